//! Default serdes by type, the typed counterpart of Kafka's `default.key.serde`: where a DSL
//! operator needs a serde the user did not give, the built-in one for the type is used.

use std::any::Any;
use std::sync::Arc;

use super::{BytesSerde, I64Serde, Nullable, SharedSerde, StringSerde, U64Serde};

fn cast<T: 'static, S: Any>(serde: SharedSerde<S>) -> Option<SharedSerde<T>> {
    let boxed: Box<dyn Any> = Box::new(serde);
    boxed.downcast::<SharedSerde<T>>().ok().map(|b| *b)
}

fn plain<T: 'static>() -> Option<SharedSerde<T>> {
    cast::<T, String>(Arc::new(StringSerde))
        .or_else(|| cast::<T, Vec<u8>>(Arc::new(BytesSerde)))
        .or_else(|| cast::<T, u64>(Arc::new(U64Serde)))
        .or_else(|| cast::<T, i64>(Arc::new(I64Serde)))
}

/// The default serde for `T`, if there is one: the built-in ones for `String`, `Vec<u8>`, `u64`,
/// `i64`, and `Option` of those (as [`Nullable`]), and those of types deriving
/// [`DefaultSerde`](super::DefaultSerde).
pub(crate) fn builtin_serde<T: 'static>() -> Option<SharedSerde<T>> {
    plain::<T>()
        .or_else(super::default_serde::registered_serde::<T>)
        .or_else(|| cast::<T, Option<String>>(Arc::new(Nullable::new(plain::<String>()?))))
        .or_else(|| cast::<T, Option<Vec<u8>>>(Arc::new(Nullable::new(plain::<Vec<u8>>()?))))
        .or_else(|| cast::<T, Option<u64>>(Arc::new(Nullable::new(plain::<u64>()?))))
        .or_else(|| cast::<T, Option<i64>>(Arc::new(Nullable::new(plain::<i64>()?))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_builtin_serdes_by_type() {
        assert!(builtin_serde::<String>().is_some());
        assert!(builtin_serde::<u64>().is_some());
        assert!(builtin_serde::<Option<u64>>().is_some());
        assert!(builtin_serde::<(u8, u8)>().is_none());
        let serde = builtin_serde::<Option<String>>().unwrap();
        assert!(serde.is_null(&None));
    }
}
