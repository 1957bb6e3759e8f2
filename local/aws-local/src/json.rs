//! A JSON request body checked before it is built into values: no object names a key twice,
//! and the body holds no more values and objects than its length allows.
//!
//! `serde_json` reads `{"a": 1, "a": 2}` as `{"a": 2}`: a `BatchWriteItem` naming its table
//! twice would be acknowledged whole and half of it dropped. And a `serde_json::Value` costs
//! far more than the text it came from (an object of one entry is a B-tree node of ~700 bytes
//! for 8 bytes of `{"a":1},`), so a hostile body of 5 MiB could cost half a gigabyte once
//! built. [`check`] walks the text once, building nothing but the keys of the objects it is
//! inside (borrowed from the body where they hold no escape), and stops at the first repeated
//! key or the first value past [`Shape`]'s bounds.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// How many values and objects a body may hold, at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Values of any kind (object members and array elements included).
    pub max_values: usize,
    /// Objects (each costs a map once built).
    pub max_objects: usize,
}

impl Shape {
    /// No bound on the shape: only repeated keys are refused.
    pub const ANY: Shape = Shape {
        max_values: usize::MAX,
        max_objects: usize::MAX,
    };

    /// Bounds in proportion to a body of `len` bytes, so that what is built from a large body
    /// costs less than the body itself: a value is up to 64 bytes once built (32 for the
    /// value, as much again for a vector's spare room), an object about 700 (a B-tree node).
    /// The floors (4,096 values, 256 objects: at most ~450 KB built) let any small request
    /// through whatever its shape. The consumer's largest request (1,000
    /// aliased publishes, ~2,000 values in ~300 KB) is inside. Measured with the body's own
    /// buffers: at most 2.9× the body (`cargo xtask bench bodies`, RELIABILITY.md).
    pub fn for_body(len: usize) -> Shape {
        Shape {
            max_values: (len / 128).max(4_096),
            max_objects: (len / 2_048).max(256),
        }
    }
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("duplicate key {0:?} in a JSON object")]
    RepeatedKey(String),
    #[error("the JSON holds more than {0} values")]
    TooManyValues(usize),
    #[error("the JSON holds more than {0} objects")]
    TooManyObjects(usize),
    #[error("{0}")]
    Syntax(String),
}

/// Why a body of untrusted JSON must be refused before it is built, bounded by
/// [`Shape::for_body`]: a repeated key or too many values or objects. A syntax error is not
/// one: it is left to the parser that builds the body, which reports it in its own words.
pub fn refusal(body: &[u8]) -> Option<JsonError> {
    match check(body, Shape::for_body(body.len())) {
        Ok(()) | Err(JsonError::Syntax(_)) => None,
        Err(refused) => Some(refused),
    }
}

/// Checks `body` as described in the module comment. Syntax errors are reported too, so a
/// caller may run this first and parse afterwards knowing the text is well formed.
pub fn check(body: &[u8], shape: Shape) -> Result<(), JsonError> {
    let mut count = Count {
        shape,
        values: 0,
        objects: 0,
        refused: None,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let walked = Walk(&mut count)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    match (walked, count.refused) {
        (_, Some(refused)) => Err(refused),
        (Err(e), None) => Err(JsonError::Syntax(e.to_string())),
        (Ok(()), None) => Ok(()),
    }
}

struct Count {
    shape: Shape,
    values: usize,
    objects: usize,
    /// The first bound crossed; the walk is stopped with a plain error and this says why.
    refused: Option<JsonError>,
}

impl Count {
    fn value<E: de::Error>(&mut self) -> Result<(), E> {
        self.values += 1;
        if self.values > self.shape.max_values {
            return Err(self.refuse(JsonError::TooManyValues(self.shape.max_values)));
        }
        Ok(())
    }

    fn refuse<E: de::Error>(&mut self, why: JsonError) -> E {
        let message = why.to_string();
        self.refused.get_or_insert(why);
        E::custom(message)
    }
}

/// One value, walked.
struct Walk<'a>(&'a mut Count);

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.0.value()?;
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Walk(self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.objects += 1;
        if self.0.objects > self.0.shape.max_objects {
            let bound = self.0.shape.max_objects;
            return Err(self.0.refuse(JsonError::TooManyObjects(bound)));
        }
        let mut seen: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(key) = map.next_key_seed(Key)? {
            if seen.contains(&key) {
                return Err(self.0.refuse(JsonError::RepeatedKey(key.into_owned())));
            }
            seen.insert(key);
            map.next_value_seed(Walk(self.0))?;
        }
        Ok(())
    }
}

/// An object's key, borrowed from the body when it holds no escape.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_is_refused_at_any_depth_and_escapes_do_not_hide_it() {
        assert_eq!(check(br#"{"a": 1, "b": [{"c": 2}]}"#, Shape::ANY), Ok(()));
        assert_eq!(
            check(br#"{"a": 1, "a": 2}"#, Shape::ANY),
            Err(JsonError::RepeatedKey("a".into()))
        );
        assert_eq!(
            check(br#"{"x": [{"t": 1, "t": 1}]}"#, Shape::ANY),
            Err(JsonError::RepeatedKey("t".into()))
        );
        // `\u0061` is `a`: the same key, written another way.
        assert_eq!(
            check(br#"{"a": 1, "\u0061": 2}"#, Shape::ANY),
            Err(JsonError::RepeatedKey("a".into()))
        );
        // The same key in two objects is no repetition.
        assert_eq!(check(br#"[{"a": 1}, {"a": 2}]"#, Shape::ANY), Ok(()));
    }

    #[test]
    fn values_and_objects_past_the_shape_are_refused() {
        let shape = Shape {
            max_values: 5,
            max_objects: 2,
        };
        assert_eq!(check(b"[1, 2, 3, 4]", shape), Ok(()));
        assert_eq!(
            check(b"[1, 2, 3, 4, 5]", shape),
            Err(JsonError::TooManyValues(5))
        );
        assert_eq!(
            check(br#"[{}, {}, {}]"#, shape),
            Err(JsonError::TooManyObjects(2))
        );
        assert!(matches!(
            check(b"[1, 2", Shape::ANY),
            Err(JsonError::Syntax(_))
        ));
        assert!(matches!(
            check(b"1 2", Shape::ANY),
            Err(JsonError::Syntax(_))
        ));
    }

    #[test]
    fn a_body_gets_room_in_proportion_to_its_length() {
        assert_eq!(Shape::for_body(0).max_values, 4_096);
        assert_eq!(Shape::for_body(5 * 1024 * 1024).max_values, 40_960);
        assert_eq!(Shape::for_body(5 * 1024 * 1024).max_objects, 2_560);
    }
}
