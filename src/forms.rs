//! Spec values written in one of several forms (a name or a table, a column name or an index,
//! a rule or a table of weights), read with errors that name the key and every allowed form,
//! where serde's untagged enums say only "data did not match any variant of untagged enum".

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::Deserializer;

/// A name (`"accuracy"`) or a table of keys (`{ name = "top_k_accuracy", k = 3 }`).
pub(crate) enum NameOrTable {
    /// The plain name.
    Name(String),
    /// The table, its values as JSON values.
    Table(serde_json::Map<String, serde_json::Value>),
}

impl NameOrTable {
    /// Reads a name or a table; any other form is an error saying `expected` (the key and
    /// its forms).
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
        expected: &'static str,
    ) -> Result<Self, D::Error> {
        struct V(&'static str);
        impl<'de> Visitor<'de> for V {
            type Value = NameOrTable;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(self.0)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NameOrTable, E> {
                Ok(NameOrTable::Name(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<NameOrTable, A::Error> {
                let table =
                    serde::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(NameOrTable::Table(table))
            }
        }
        d.deserialize_any(V(expected))
    }
}

/// Reads a table's keys into `T` (a struct that denies unknown keys), its errors prefixed
/// with `what` (`metric top_k_accuracy`).
pub(crate) fn table<T: serde::de::DeserializeOwned, E: de::Error>(
    table: serde_json::Map<String, serde_json::Value>,
    what: &str,
) -> Result<T, E> {
    T::deserialize(serde_json::Value::Object(table)).map_err(|e| E::custom(format!("{what}: {e}")))
}
