//! Just enough of Python's pickle format to read Geneformer's dictionaries.
//!
//! Geneformer ships `token_dictionary.pkl` and `gene_median_dictionary.pkl` as plain dicts whose
//! values are *numpy scalars* (`numpy.core.multiarray.scalar(dtype('i2'), b'..')`), which
//! general-purpose readers (serde-pickle, candle's PyTorch reader) cannot turn into numbers. This
//! reader runs the pickle machine for the binary opcodes of protocols 2–5 and decodes numpy
//! scalars of integer and float dtypes; any other object is an error naming it.
use std::fmt;

/// A Python object as far as dictionaries need.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// A class or function reference (`module.name`), only ever called by REDUCE.
    Global {
        module: String,
        name: String,
    },
    /// A numpy dtype, e.g. `f8` little-endian.
    Dtype {
        code: String,
        little_endian: bool,
    },
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => write!(f, "None"),
            Value::Bool(b) => write!(f, "{}", if *b { "True" } else { "False" }),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "bytes of length {}", b.len()),
            Value::Tuple(_) => write!(f, "a tuple"),
            Value::List(_) => write!(f, "a list"),
            Value::Dict(_) => write!(f, "a dict"),
            Value::Global { module, name } => write!(f, "{module}.{name}"),
            Value::Dtype { code, .. } => write!(f, "dtype('{code}')"),
        }
    }
}

/// What the stack holds: values, and the marks that open TUPLE, SETITEMS and friends.
#[derive(Debug, Clone)]
enum Slot {
    Mark,
    Value(Value),
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Slot>,
    memo: Vec<Option<Value>>,
}

/// Decodes one pickled object.
pub fn loads(data: &[u8]) -> Result<Value, String> {
    let mut m = Machine { data, pos: 0, stack: Vec::new(), memo: Vec::new() };
    m.run()
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let Some(end) = end else {
            return Err(format!("truncated pickle: {n} bytes needed at byte {}", self.pos));
        };
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn le<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    fn len_u32(&mut self) -> Result<usize, String> {
        Ok(u32::from_le_bytes(self.le()?) as usize)
    }

    fn len_u64(&mut self) -> Result<usize, String> {
        usize::try_from(u64::from_le_bytes(self.le()?)).map_err(|_| "length does not fit in memory".to_string())
    }

    fn string(&mut self, n: usize) -> Result<String, String> {
        let at = self.pos;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| format!("invalid UTF-8 string at byte {at}"))
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let n = rest.iter().position(|&b| b == b'\n').ok_or("unterminated GLOBAL name")?;
        let s = self.string(n)?;
        self.pos += 1;
        Ok(s)
    }

    fn push(&mut self, v: Value) {
        self.stack.push(Slot::Value(v));
    }

    fn pop(&mut self) -> Result<Value, String> {
        match self.stack.pop() {
            Some(Slot::Value(v)) => Ok(v),
            Some(Slot::Mark) => Err(format!("unexpected mark on the stack at byte {}", self.pos)),
            None => Err(format!("stack underflow at byte {}", self.pos)),
        }
    }

    /// Everything above the topmost mark, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let at = self.stack.iter().rposition(|s| matches!(s, Slot::Mark)).ok_or("no mark on the stack")?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items
            .into_iter()
            .map(|s| match s {
                Slot::Value(v) => v,
                Slot::Mark => unreachable!("the topmost mark is at `at`"),
            })
            .collect())
    }

    fn top_mut(&mut self) -> Result<&mut Value, String> {
        match self.stack.last_mut() {
            Some(Slot::Value(v)) => Ok(v),
            _ => Err("expected an object on top of the stack".into()),
        }
    }

    fn memo_put(&mut self, index: usize) -> Result<(), String> {
        let v = match self.stack.last() {
            Some(Slot::Value(v)) => v.clone(),
            _ => return Err("nothing to memoize".into()),
        };
        if self.memo.len() <= index {
            self.memo.resize(index + 1, None);
        }
        self.memo[index] = Some(v);
        Ok(())
    }

    fn memo_get(&mut self, index: usize) -> Result<(), String> {
        let v = self.memo.get(index).cloned().flatten().ok_or_else(|| format!("memo entry {index} is unset"))?;
        self.push(v);
        Ok(())
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), String> {
        if !items.len().is_multiple_of(2) {
            return Err("SETITEMS with an odd number of items".into());
        }
        let Value::Dict(entries) = self.top_mut()? else {
            return Err("SETITEMS on something other than a dict".into());
        };
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            entries.push((k, v));
        }
        Ok(())
    }

    fn append(&mut self, items: Vec<Value>) -> Result<(), String> {
        match self.top_mut()? {
            Value::List(list) => {
                list.extend(items);
                Ok(())
            }
            _ => Err("APPEND on something other than a list".into()),
        }
    }

    fn run(&mut self) -> Result<Value, String> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(format!("pickle protocol {proto} is newer than 5"));
                    }
                }
                0x95 => {
                    self.take(8)?; // FRAME: a length hint only
                }
                b'.' => return self.pop(),
                b'(' => self.stack.push(Slot::Mark),
                b'}' => self.push(Value::Dict(Vec::new())),
                b']' => self.push(Value::List(Vec::new())),
                b')' => self.push(Value::Tuple(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Dict(Vec::new()));
                    self.set_items(items)?;
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(items));
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(format!("stack underflow at byte {at}"));
                    }
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Value::Tuple(items));
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'J' => {
                    let v = i32::from_le_bytes(self.le()?);
                    self.push(Value::Int(v as i64));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v as i64));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.le()?);
                    self.push(Value::Int(v as i64));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let bytes = self.take(n)?;
                    if n > 8 {
                        return Err(format!("integer of {n} bytes at byte {at} does not fit in 64 bits"));
                    }
                    // Little-endian two's complement of n bytes, sign-extended.
                    let mut v: i64 = 0;
                    for (i, &b) in bytes.iter().enumerate() {
                        v |= (b as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && bytes[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.push(Value::Int(v));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.le()?);
                    self.push(Value::Float(v));
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let s = self.string(n)?;
                    self.push(Value::Str(s));
                }
                b'X' => {
                    let n = self.len_u32()?;
                    let s = self.string(n)?;
                    self.push(Value::Str(s));
                }
                0x8d => {
                    let n = self.len_u64()?;
                    let s = self.string(n)?;
                    self.push(Value::Str(s));
                }
                b'C' | b'B' | 0x8e => {
                    let n = match op {
                        b'C' => self.u8()? as usize,
                        b'B' => self.len_u32()?,
                        _ => self.len_u64()?,
                    };
                    let bytes = self.take(n)?.to_vec();
                    self.push(Value::Bytes(bytes));
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global { module, name });
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(module), Value::Str(name)) => self.push(Value::Global { module, name }),
                        _ => return Err(format!("STACK_GLOBAL without two strings at byte {at}")),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = reduce(callable, args).map_err(|e| format!("{e} (byte {at})"))?;
                    self.push(v);
                }
                b'b' => {
                    let state = self.pop()?;
                    let obj = self.top_mut()?;
                    build(obj, state).map_err(|e| format!("{e} (byte {at})"))?;
                }
                0x94 => {
                    let index = self.memo.len();
                    self.memo_put(index)?;
                }
                b'q' => {
                    let index = self.u8()? as usize;
                    self.memo_put(index)?;
                }
                b'r' => {
                    let index = self.len_u32()?;
                    self.memo_put(index)?;
                }
                b'h' => {
                    let index = self.u8()? as usize;
                    self.memo_get(index)?;
                }
                b'j' => {
                    let index = self.len_u32()?;
                    self.memo_get(index)?;
                }
                other => return Err(format!("unsupported pickle opcode 0x{other:02x} at byte {at}")),
            }
        }
    }
}

/// Calls `callable(*args)` for the few callables dictionaries use.
fn reduce(callable: Value, args: Value) -> Result<Value, String> {
    let Value::Tuple(mut args) = args else {
        return Err(format!("arguments of {callable} are not a tuple"));
    };
    let Value::Global { module, name } = &callable else {
        return Err(format!("cannot call {callable}"));
    };
    match (module.as_str(), name.as_str()) {
        ("numpy", "dtype") => match args.first() {
            // Native order until BUILD says otherwise; every platform Geneformer runs on is
            // little-endian.
            Some(Value::Str(code)) => Ok(Value::Dtype { code: code.clone(), little_endian: true }),
            _ => Err("numpy.dtype without a type code".into()),
        },
        ("numpy.core.multiarray" | "numpy._core.multiarray", "scalar") if args.len() == 2 => {
            let bytes = args.pop().expect("two arguments");
            let dtype = args.pop().expect("two arguments");
            match (dtype, bytes) {
                (Value::Dtype { code, little_endian }, Value::Bytes(bytes)) => {
                    numpy_scalar(&code, little_endian, &bytes)
                }
                (dtype, _) => Err(format!("numpy scalar of {dtype} without its bytes")),
            }
        }
        ("collections", "OrderedDict") if args.is_empty() => Ok(Value::Dict(Vec::new())),
        _ => Err(format!("cannot call {module}.{name}: not a dictionary value this reader knows")),
    }
}

/// `obj.__setstate__(state)`: only numpy dtypes take a state (its byte order).
fn build(obj: &mut Value, state: Value) -> Result<(), String> {
    match (obj, state) {
        (Value::Dtype { little_endian, .. }, Value::Tuple(state)) => {
            match state.get(1) {
                Some(Value::Str(order)) => *little_endian = order != ">",
                _ => return Err("numpy dtype state without a byte order".into()),
            }
            Ok(())
        }
        (obj, _) => Err(format!("cannot set the state of {obj}")),
    }
}

fn numpy_scalar(code: &str, little_endian: bool, bytes: &[u8]) -> Result<Value, String> {
    let (kind, size) = code.split_at(1);
    let size: usize = size.parse().map_err(|_| format!("unsupported numpy dtype '{code}'"))?;
    if bytes.len() != size {
        return Err(format!("numpy scalar of dtype '{code}' has {} bytes", bytes.len()));
    }
    // Widen to 8 bytes in little-endian order.
    let mut le = bytes.to_vec();
    if !little_endian {
        le.reverse();
    }
    let negative = le.last().is_some_and(|b| b & 0x80 != 0);
    let fill = if kind == "i" && negative { 0xff } else { 0 };
    le.resize(8, fill);
    let wide: [u8; 8] = le.as_slice().try_into().expect("resized to 8");
    match (kind, size) {
        ("i", 1 | 2 | 4 | 8) => Ok(Value::Int(i64::from_le_bytes(wide))),
        ("u", 1 | 2 | 4) => Ok(Value::Int(i64::from_le_bytes(wide))),
        ("u", 8) => i64::try_from(u64::from_le_bytes(wide))
            .map(Value::Int)
            .map_err(|_| "uint64 scalar does not fit in int64".to_string()),
        ("f", 8) => Ok(Value::Float(f64::from_le_bytes(wide))),
        ("f", 4) => Ok(Value::Float(f32::from_le_bytes(wide[..4].try_into().expect("4 bytes")) as f64)),
        _ => Err(format!("unsupported numpy dtype '{code}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pickle.dumps({'a': 1, 'b': 2.5, 'c': 'x', 'big': 70000, 'neg': -3}, protocol=2)`.
    const PROTOCOL2: &[u8] = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01X\x01\x00\x00\x00bq\x02G@\x04\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00cq\x03X\x01\x00\x00\x00xq\x04X\x03\x00\x00\x00bigq\x05Jp\x11\x01\x00X\x03\x00\x00\x00negq\x06J\xfd\xff\xff\xffu.";

    #[test]
    fn reads_a_protocol_2_dict() {
        let v = loads(PROTOCOL2).unwrap();
        assert_eq!(
            v,
            Value::Dict(vec![
                (Value::Str("a".into()), Value::Int(1)),
                (Value::Str("b".into()), Value::Float(2.5)),
                (Value::Str("c".into()), Value::Str("x".into())),
                (Value::Str("big".into()), Value::Int(70000)),
                (Value::Str("neg".into()), Value::Int(-3)),
            ])
        );
    }

    /// `pickle.dumps({'<pad>': 0, 'G': np.int16(300), 'M': np.float64(1.5)}, protocol=4)` with
    /// numpy 2.4 (Geneformer's own files name numpy 1's `numpy.core.multiarray`).
    const NUMPY_SCALARS: &[u8] = b"\x80\x04\x95\xaf\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x05<pad>\x94K\x00\x8c\x01G\x94\x8c\x16numpy._core.multiarray\x94\x8c\x06scalar\x94\x93\x94\x8c\x05numpy\x94\x8c\x05dtype\x94\x93\x94\x8c\x02i2\x94\x89\x88\x87\x94R\x94(K\x03\x8c\x01<\x94NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t\x94bC\x02,\x01\x94\x86\x94R\x94\x8c\x01M\x94h\x05h\x08\x8c\x02f8\x94\x89\x88\x87\x94R\x94(K\x03h\x0cNNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t\x94bC\x08\x00\x00\x00\x00\x00\x00\xf8?\x94\x86\x94R\x94u.";

    #[test]
    fn decodes_numpy_scalars() {
        assert_eq!(
            loads(NUMPY_SCALARS).unwrap(),
            Value::Dict(vec![
                (Value::Str("<pad>".into()), Value::Int(0)),
                (Value::Str("G".into()), Value::Int(300)),
                (Value::Str("M".into()), Value::Float(1.5)),
            ])
        );
        assert_eq!(numpy_scalar("i2", true, &(-2i16).to_le_bytes()), Ok(Value::Int(-2)));
        assert_eq!(numpy_scalar("i2", false, &(-2i16).to_be_bytes()), Ok(Value::Int(-2)));
        assert_eq!(numpy_scalar("f4", true, &0.25f32.to_le_bytes()), Ok(Value::Float(0.25)));
        assert_eq!(numpy_scalar("c16", true, &[0; 16]), Err("unsupported numpy dtype 'c16'".into()));
    }

    #[test]
    fn errors_name_what_is_unknown() {
        assert_eq!(loads(b"\x80\x02}q\x00(X\x01\x00").unwrap_err(), "truncated pickle: 4 bytes needed at byte 7");
        assert_eq!(loads(b"\x80\x02\xff").unwrap_err(), "unsupported pickle opcode 0xff at byte 2");
        let call = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.";
        assert_eq!(
            loads(call).unwrap_err(),
            "cannot call os.system: not a dictionary value this reader knows (byte 21)"
        );
    }
}
