//! Builder methods for the settings structs (layers, optimizers, schedules): one chained setter
//! per key, named as the key, so that Rust code reads like the spec it stands for:
//! `SgdSpec::default().learning_rate(0.02).momentum(0.9)` is `{ name = "sgd",
//! learning_rate = 0.02, momentum = 0.9 }`.

/// Chained setters `fn key(self, value) -> Self` for the listed fields of a struct; the fields
/// after `optional` are `Option`s, set to `Some(value)`.
macro_rules! setters {
    ($t:ty { $($field:ident : $ty:ty),* $(,)? } $(optional { $($ofield:ident : $oty:ty),* $(,)? })?) => {
        impl $t {
            $(
                #[doc = concat!("Sets `", stringify!($field), "` (the key of the same name).")]
                #[must_use]
                pub fn $field(mut self, $field: $ty) -> Self {
                    self.$field = $field;
                    self
                }
            )*
            $($(
                #[doc = concat!("Sets `", stringify!($ofield), "` (the key of the same name).")]
                #[must_use]
                pub fn $ofield(mut self, $ofield: $oty) -> Self {
                    self.$ofield = Some($ofield);
                    self
                }
            )*)?
        }
    };
}

/// `named` and `reads` for layer settings structs with `name` and `inputs` fields, and
/// `From<Struct> for LayerSpec` through the given variant.
macro_rules! layer_setters {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl $t {
            /// Sets the layer's name (which other layers read it by).
            #[must_use]
            pub fn named(mut self, name: &str) -> Self {
                self.name = Some(name.to_string());
                self
            }

            /// Sets the layers or model inputs it reads (Keras' `layer(inputs)`; default: the
            /// previous layer).
            #[must_use]
            pub fn reads(mut self, inputs: &[&str]) -> Self {
                self.inputs = Some(inputs.iter().map(|s| s.to_string()).collect());
                self
            }
        }

        impl From<$t> for $crate::layers::LayerSpec {
            fn from(spec: $t) -> Self {
                $crate::layers::LayerSpec::$variant(spec)
            }
        }
    )*};
}

pub(crate) use layer_setters;
pub(crate) use setters;
