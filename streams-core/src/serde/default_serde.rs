//! [`DefaultSerde`]: a type's own serde, which the DSL uses where none is given (the typed
//! counterpart of Kafka Streams' `default.key.serde` / `default.value.serde`).
//!
//! `#[derive(DefaultSerde)]` implements it and registers the type (with `inventory`), so that
//! operators resolving serdes by type at build time find it too.

use std::any::{Any, TypeId};

use super::{Serdes, SharedSerde};

/// A type with a default serde: `Consumed::default()`, and DSL operators given no serde for it,
/// use [`default_serde`](Self::default_serde).
///
/// Derive it (feature `macros`) with the format:
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use streams_core::dsl::{Consumed, StreamsBuilder};
/// use streams_core::serde::DefaultSerde;
///
/// #[derive(Clone, Serialize, Deserialize, DefaultSerde)]
/// #[default_serde(format = "json")]
/// struct Payment {
///     card: String,
///     cents: u64,
/// }
///
/// let builder = StreamsBuilder::new();
/// // No serde arguments: String's and Payment's default serdes, read, then found by type.
/// let payments = builder.stream::<String, Payment>("payments", Consumed::default());
/// payments
///     .map_values(|p: Payment| Payment { cents: p.cents * 2, ..p })
///     .to("doubled-payments");
/// builder.build()?;
/// # Ok::<(), streams_core::Error>(())
/// ```
pub trait DefaultSerde: Sized + 'static {
    /// The serde for this type.
    fn default_serde() -> SharedSerde<Self>;
}

macro_rules! builtin {
    ($($t:ty => $serde:expr),* $(,)?) => {
        $(impl DefaultSerde for $t {
            fn default_serde() -> SharedSerde<Self> {
                $serde
            }
        })*
    };
}

builtin! {
    String => Serdes::string(),
    Vec<u8> => Serdes::bytes(),
    u64 => Serdes::u64(),
    i64 => Serdes::i64(),
    Option<String> => Serdes::nullable(Serdes::string()),
    Option<Vec<u8>> => Serdes::nullable(Serdes::bytes()),
    Option<u64> => Serdes::nullable(Serdes::u64()),
    Option<i64> => Serdes::nullable(Serdes::i64()),
}

/// A registered [`DefaultSerde`] type: written by `#[derive(DefaultSerde)]`, read when an
/// operator looks a serde up by type.
#[doc(hidden)]
#[derive(Debug)]
pub struct DefaultSerdeRegistration {
    type_id: fn() -> TypeId,
    make: fn() -> Box<dyn Any>,
}

fn make<T: DefaultSerde>() -> Box<dyn Any> {
    Box::new(T::default_serde())
}

impl DefaultSerdeRegistration {
    /// The registration of `T`.
    pub const fn of<T: DefaultSerde>() -> Self {
        DefaultSerdeRegistration {
            type_id: TypeId::of::<T>,
            make: make::<T>,
        }
    }
}

inventory::collect!(DefaultSerdeRegistration);

/// Registers `$t`'s [`DefaultSerde`] for lookups by type (what the derive writes).
#[doc(hidden)]
#[macro_export]
macro_rules! __register_default_serde {
    ($t:ty) => {
        $crate::__private::inventory::submit! {
            $crate::serde::DefaultSerdeRegistration::of::<$t>()
        }
    };
}

/// The default serde registered for `T`, if a `#[derive(DefaultSerde)]` registered one.
pub(crate) fn registered_serde<T: 'static>() -> Option<SharedSerde<T>> {
    inventory::iter::<DefaultSerdeRegistration>
        .into_iter()
        .find(|r| (r.type_id)() == TypeId::of::<T>())
        .and_then(|r| (r.make)().downcast::<SharedSerde<T>>().ok())
        .map(|b| *b)
}
