//! Two derived structs written as one JSON object, field by field, with no intermediate value.
//!
//! The document used to be built as a `serde_json::Value` per struct, woven and written again:
//! every key and string copied twice and an object map allocated per request and per list item.
//! Here [`Fields`] is a `Serializer` that only accepts a struct and hands each of its fields to a
//! [`Visit`], so the derived `Serialize` of each struct stays the one declaration of its fields and
//! their order, and each field is written once, straight to the output.

use serde::ser::{self, Impossible, Serialize, SerializeMap, SerializeStruct, Serializer};

/// Where the second struct's fields sit among the first's: before the named field of the first,
/// in the order given. Fields of the second that no place names close the object.
pub(super) type Places = [(&'static str, &'static [&'static str])];

/// Writes the fields of `first` into `map`, each preceded by the fields of `second` that `places`
/// puts before it, then the rest of `second`'s.
pub(super) fn weave<M, A, B>(
    map: &mut M,
    first: &A,
    second: &B,
    places: &Places,
) -> Result<(), M::Error>
where
    M: SerializeMap,
    A: Serialize + ?Sized,
    B: Serialize + ?Sized,
{
    first.serialize(Fields(First {
        map: &mut *map,
        second,
        places,
    }))?;
    second.serialize(Fields(Unplaced { map, places }))
}

/// What is done with each field of a struct.
trait Visit {
    type Error: ser::Error;
    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Self::Error>;
}

/// A field of the first struct: the second's fields placed before it, then itself.
struct First<'a, M, B: ?Sized> {
    map: &'a mut M,
    second: &'a B,
    places: &'a Places,
}

impl<M: SerializeMap, B: Serialize + ?Sized> Visit for First<'_, M, B> {
    type Error = M::Error;

    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        let placed = self.places.iter().filter(|(before, _)| *before == key);
        for name in placed.flat_map(|(_, names)| names.iter()) {
            let map = &mut *self.map;
            self.second.serialize(Fields(Named { map, name }))?;
        }
        self.map.serialize_entry(key, value)
    }
}

/// Only the field called `name`.
struct Named<'a, M> {
    map: &'a mut M,
    name: &'a str,
}

impl<M: SerializeMap> Visit for Named<'_, M> {
    type Error = M::Error;

    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        if key == self.name {
            self.map.serialize_entry(key, value)?;
        }
        Ok(())
    }
}

/// Only the fields no place names.
struct Unplaced<'a, M> {
    map: &'a mut M,
    places: &'a Places,
}

impl<M: SerializeMap> Visit for Unplaced<'_, M> {
    type Error = M::Error;

    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        let placed = self.places.iter().any(|(_, names)| names.contains(&key));
        if !placed {
            self.map.serialize_entry(key, value)?;
        }
        Ok(())
    }
}

/// A serializer of structs only, whose fields go to the visitor.
struct Fields<V>(V);

impl<V: Visit> SerializeStruct for Fields<V> {
    type Ok = ();
    type Error = V::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), V::Error> {
        self.0.field(key, value)
    }

    fn end(self) -> Result<(), V::Error> {
        Ok(())
    }
}

fn not_a_struct<E: ser::Error>() -> E {
    E::custom("only a struct can be woven into the document")
}

/// Serializer methods for anything but a struct: each refuses.
macro_rules! refuse {
    ($($method:ident($($arg:ty),*) -> $ok:ty;)*) => {$(
        fn $method(self, $(_: $arg),*) -> Result<$ok, V::Error> {
            Err(not_a_struct())
        }
    )*};
}

impl<V: Visit> Serializer for Fields<V> {
    type Ok = ();
    type Error = V::Error;
    type SerializeSeq = Impossible<(), V::Error>;
    type SerializeTuple = Impossible<(), V::Error>;
    type SerializeTupleStruct = Impossible<(), V::Error>;
    type SerializeTupleVariant = Impossible<(), V::Error>;
    type SerializeMap = Impossible<(), V::Error>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), V::Error>;

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, V::Error> {
        Ok(self)
    }

    refuse! {
        serialize_bool(bool) -> ();
        serialize_i8(i8) -> ();
        serialize_i16(i16) -> ();
        serialize_i32(i32) -> ();
        serialize_i64(i64) -> ();
        serialize_u8(u8) -> ();
        serialize_u16(u16) -> ();
        serialize_u32(u32) -> ();
        serialize_u64(u64) -> ();
        serialize_f32(f32) -> ();
        serialize_f64(f64) -> ();
        serialize_char(char) -> ();
        serialize_str(&str) -> ();
        serialize_bytes(&[u8]) -> ();
        serialize_none() -> ();
        serialize_unit() -> ();
        serialize_unit_struct(&'static str) -> ();
        serialize_unit_variant(&'static str, u32, &'static str) -> ();
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), V::Error> {
        Err(not_a_struct())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), V::Error> {
        Err(not_a_struct())
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), V::Error> {
        Err(not_a_struct())
    }
}
