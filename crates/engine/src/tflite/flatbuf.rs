//! A minimal, bounds-checked FlatBuffers reader: just what the TFLite schema
//! needs (tables, scalars, vectors of scalars and tables, strings).
//!
//! Every access goes through `get` on the byte slice and checked arithmetic, so
//! hostile offsets, lengths and vtables produce errors, never panics or reads
//! outside the buffer.

use crate::error::{Error, Result};

fn bytes<const N: usize>(buf: &[u8], pos: usize) -> Result<[u8; N]> {
    let end = pos
        .checked_add(N)
        .ok_or(Error::Malformed("flatbuffer offset overflow"))?;
    buf.get(pos..end)
        .and_then(|b| b.try_into().ok())
        .ok_or(Error::Truncated("flatbuffer read past the end"))
}

pub fn read_u16(buf: &[u8], pos: usize) -> Result<u16> {
    Ok(u16::from_le_bytes(bytes(buf, pos)?))
}

pub fn read_u32(buf: &[u8], pos: usize) -> Result<u32> {
    Ok(u32::from_le_bytes(bytes(buf, pos)?))
}

fn follow(buf: &[u8], pos: usize) -> Result<usize> {
    let rel = read_u32(buf, pos)? as usize;
    let target = pos
        .checked_add(rel)
        .ok_or(Error::Malformed("flatbuffer offset overflow"))?;
    if target >= buf.len() {
        return Err(Error::Truncated("flatbuffer offset points past the end"));
    }
    Ok(target)
}

/// A table: a position in the buffer plus its vtable.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vtable_len: usize,
}

impl<'a> Table<'a> {
    /// The root table of a buffer.
    pub fn root(buf: &'a [u8]) -> Result<Self> {
        Table::at(buf, follow(buf, 0)?)
    }

    fn at(buf: &'a [u8], pos: usize) -> Result<Self> {
        let soffset = i32::from_le_bytes(bytes(buf, pos)?) as i64;
        let vtable = pos as i64 - soffset;
        if vtable < 0 || vtable as u64 >= buf.len() as u64 {
            return Err(Error::Malformed("flatbuffer vtable out of bounds"));
        }
        let vtable = vtable as usize;
        let vtable_len = read_u16(buf, vtable)? as usize;
        if vtable_len < 4 || vtable.saturating_add(vtable_len) > buf.len() {
            return Err(Error::Malformed("flatbuffer vtable length"));
        }
        Ok(Table {
            buf,
            pos,
            vtable,
            vtable_len,
        })
    }

    /// Absolute position of field `id` in the buffer, `None` when absent
    /// (public for tests that patch a field in place).
    pub fn field(&self, id: usize) -> Result<Option<usize>> {
        let slot = 4 + 2 * id;
        if slot + 2 > self.vtable_len {
            return Ok(None);
        }
        let off = read_u16(self.buf, self.vtable + slot)? as usize;
        if off == 0 {
            return Ok(None);
        }
        Ok(Some(
            self.pos
                .checked_add(off)
                .ok_or(Error::Malformed("flatbuffer field"))?,
        ))
    }

    pub fn u8(&self, id: usize, default: u8) -> Result<u8> {
        match self.field(id)? {
            Some(p) => Ok(bytes::<1>(self.buf, p)?[0]),
            None => Ok(default),
        }
    }

    pub fn i32(&self, id: usize, default: i32) -> Result<i32> {
        match self.field(id)? {
            Some(p) => Ok(i32::from_le_bytes(bytes(self.buf, p)?)),
            None => Ok(default),
        }
    }

    pub fn u32(&self, id: usize, default: u32) -> Result<u32> {
        match self.field(id)? {
            Some(p) => read_u32(self.buf, p),
            None => Ok(default),
        }
    }

    pub fn u64(&self, id: usize, default: u64) -> Result<u64> {
        match self.field(id)? {
            Some(p) => Ok(u64::from_le_bytes(bytes(self.buf, p)?)),
            None => Ok(default),
        }
    }

    pub fn f32(&self, id: usize, default: f32) -> Result<f32> {
        match self.field(id)? {
            Some(p) => Ok(f32::from_le_bytes(bytes(self.buf, p)?)),
            None => Ok(default),
        }
    }

    pub fn table(&self, id: usize) -> Result<Option<Table<'a>>> {
        match self.field(id)? {
            Some(p) => Ok(Some(Table::at(self.buf, follow(self.buf, p)?)?)),
            None => Ok(None),
        }
    }

    /// A vector of `elem_size`-byte elements; absent vectors read as empty.
    pub fn vector(&self, id: usize, elem_size: usize) -> Result<Vector<'a>> {
        let Some(p) = self.field(id)? else {
            return Ok(Vector {
                buf: self.buf,
                start: 0,
                len: 0,
                elem_size,
            });
        };
        let at = follow(self.buf, p)?;
        let len = read_u32(self.buf, at)? as usize;
        let start = at + 4;
        let end = len
            .checked_mul(elem_size)
            .and_then(|n| n.checked_add(start))
            .ok_or(Error::Malformed("flatbuffer vector length overflow"))?;
        if end > self.buf.len() {
            return Err(Error::Truncated("flatbuffer vector runs past the end"));
        }
        Ok(Vector {
            buf: self.buf,
            start,
            len,
            elem_size,
        })
    }

    pub fn string(&self, id: usize) -> Result<&'a str> {
        let v = self.vector(id, 1)?;
        core::str::from_utf8(v.bytes())
            .map_err(|_| Error::Malformed("flatbuffer string is not UTF-8"))
    }
}

/// A vector whose bounds have been checked against the buffer.
#[derive(Clone, Copy)]
pub struct Vector<'a> {
    buf: &'a [u8],
    start: usize,
    len: usize,
    elem_size: usize,
}

impl<'a> Vector<'a> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Raw element bytes (in bounds by construction).
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
            .get(self.start..self.start + self.len * self.elem_size)
            .unwrap_or(&[])
    }

    pub fn i32(&self, i: usize) -> Result<i32> {
        self.check(i, 4)?;
        Ok(i32::from_le_bytes(bytes(self.buf, self.start + i * 4)?))
    }

    pub fn i64(&self, i: usize) -> Result<i64> {
        self.check(i, 8)?;
        Ok(i64::from_le_bytes(bytes(self.buf, self.start + i * 8)?))
    }

    pub fn f32(&self, i: usize) -> Result<f32> {
        self.check(i, 4)?;
        Ok(f32::from_le_bytes(bytes(self.buf, self.start + i * 4)?))
    }

    pub fn table(&self, i: usize) -> Result<Table<'a>> {
        self.check(i, 4)?;
        Table::at(self.buf, follow(self.buf, self.start + i * 4)?)
    }

    fn check(&self, i: usize, size: usize) -> Result<()> {
        if i < self.len && self.elem_size == size {
            Ok(())
        } else {
            Err(Error::Malformed("flatbuffer vector index"))
        }
    }
}
