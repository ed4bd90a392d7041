//! The serde of table changes sent through repartition topics (`KTable::group_by`).

use crate::dsl::Change;

use super::{Serde, SerdeError, SharedSerde};

/// Encodes a [`Change`]: a flag byte (1: new only, 2: old only, 3: both), then for both the new
/// value's length (4 bytes big-endian), the new value and the old value.
pub(crate) struct ChangeSerde<V> {
    inner: SharedSerde<V>,
}

impl<V> ChangeSerde<V> {
    pub(crate) fn new(inner: SharedSerde<V>) -> Self {
        ChangeSerde { inner }
    }
}

impl<V: 'static> Serde<Change<V>> for ChangeSerde<V> {
    fn serialize(&self, change: &Change<V>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        match (&change.new, &change.old) {
            (Some(new), None) => {
                out.push(1);
                self.inner.serialize(new, out)
            }
            (None, Some(old)) => {
                out.push(2);
                self.inner.serialize(old, out)
            }
            (Some(new), Some(old)) => {
                out.push(3);
                let len_at = out.len();
                out.extend_from_slice(&[0; 4]);
                self.inner.serialize(new, out)?;
                let len = u32::try_from(out.len() - len_at - 4)
                    .map_err(|_| SerdeError::serialize::<V>("value longer than 4 GiB"))?;
                out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
                self.inner.serialize(old, out)
            }
            (None, None) => Err(SerdeError::serialize::<Change<V>>(
                "a change with neither new nor old value",
            )),
        }
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Change<V>, SerdeError> {
        let (flag, rest) = bytes
            .split_first()
            .ok_or_else(|| SerdeError::deserialize::<Change<V>>("empty"))?;
        match flag {
            1 => Ok(Change {
                new: Some(self.inner.deserialize(rest)?),
                old: None,
            }),
            2 => Ok(Change {
                new: None,
                old: Some(self.inner.deserialize(rest)?),
            }),
            3 => {
                let (len, rest) = rest
                    .split_first_chunk::<4>()
                    .ok_or_else(|| SerdeError::deserialize::<Change<V>>("missing length"))?;
                let len = u32::from_be_bytes(*len) as usize;
                if rest.len() < len {
                    return Err(SerdeError::deserialize::<Change<V>>("truncated new value"));
                }
                Ok(Change {
                    new: Some(self.inner.deserialize(&rest[..len])?),
                    old: Some(self.inner.deserialize(&rest[len..])?),
                })
            }
            other => Err(SerdeError::deserialize::<Change<V>>(format!(
                "unknown flag {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::Serdes;

    #[test]
    fn round_trips_every_shape() {
        let serde = ChangeSerde::new(Serdes::string());
        for change in [
            Change {
                new: Some("n".to_string()),
                old: None,
            },
            Change {
                new: None,
                old: Some("o".to_string()),
            },
            Change {
                new: Some("new".to_string()),
                old: Some("o".to_string()),
            },
        ] {
            let mut out = Vec::new();
            serde.serialize(&change, &mut out).unwrap();
            assert_eq!(serde.deserialize(&out).unwrap(), change);
        }
        assert!(
            serde
                .serialize(
                    &Change {
                        new: None,
                        old: None
                    },
                    &mut Vec::new()
                )
                .is_err()
        );
        assert!(serde.deserialize(&[9]).is_err());
        assert!(serde.deserialize(&[3, 0, 0, 0, 9, b'x']).is_err());
    }
}
