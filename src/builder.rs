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

/// `named` and `reads` for layer settings structs: each gives the model node
/// ([`crate::layers::LayerSpec`]) of these settings with that name or those inputs.
macro_rules! layer_setters {
    ($($t:ty),* $(,)?) => {$(
        impl $t {
            /// The layer of these settings, named `name` (which other layers read it by).
            #[must_use]
            pub fn named(self, name: &str) -> $crate::layers::LayerSpec {
                $crate::layers::LayerSpec::new(self).named(name)
            }

            /// The layer of these settings, reading the layers or model inputs `inputs`
            /// (Keras' `layer(inputs)`; default: the previous layer).
            #[must_use]
            pub fn reads(self, inputs: &[&str]) -> $crate::layers::LayerSpec {
                $crate::layers::LayerSpec::new(self).reads(inputs)
            }
        }
    )*};
}

pub(crate) use layer_setters;
pub(crate) use setters;
