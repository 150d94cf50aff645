//! Typed plugin parameters. A plugin declares `ParamSpec`s; the host resolves the workflow's
//! table against them (unknown keys and wrong types are errors), fills defaults, and hands the
//! plugin a complete `Params`.
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A parameter value as written in a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<ParamValue>),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Str(s) => write!(f, "{s:?}"),
            ParamValue::List(items) => {
                write!(f, "[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// A list value as the component interface carries it: WIT lists are homogeneous, so a list is
/// either all integers or all numbers. Host and guest both cross lists through [`NumberList::of`].
#[derive(Debug, Clone, PartialEq)]
pub enum NumberList {
    Integers(Vec<i64>),
    Numbers(Vec<f64>),
}

impl NumberList {
    /// `items` as integers when there are some and all are, else as numbers with the integers
    /// widened (an empty list is numbers). A list holding anything else cannot cross: refused
    /// naming parameter `key`.
    pub fn of(key: &str, items: &[ParamValue]) -> Result<NumberList> {
        let integers: Option<Vec<i64>> =
            items.iter().map(|v| if let ParamValue::Int(i) = v { Some(*i) } else { None }).collect();
        if let Some(integers) = integers.filter(|i| !i.is_empty()) {
            return Ok(NumberList::Integers(integers));
        }
        let numbers = items.iter().map(|v| match v {
            ParamValue::Int(i) => Ok(*i as f64),
            ParamValue::Float(x) => Ok(*x),
            other => Err(Error::param(
                key,
                format!("a list holding {other} cannot cross the component interface (numbers only)"),
            )),
        });
        Ok(NumberList::Numbers(numbers.collect::<Result<_>>()?))
    }
}

/// The type a parameter accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ParamKind {
    Bool,
    Int,
    Float,
    Str,
    /// One of the listed strings.
    Choice(Vec<String>),
    FloatList,
    IntList,
}

impl fmt::Display for ParamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamKind::Bool => write!(f, "bool"),
            ParamKind::Int => write!(f, "integer"),
            ParamKind::Float => write!(f, "number"),
            ParamKind::Str => write!(f, "string"),
            ParamKind::Choice(c) => write!(f, "one of {}", c.join("|")),
            ParamKind::FloatList => write!(f, "list of numbers"),
            ParamKind::IntList => write!(f, "list of integers"),
        }
    }
}

/// The default of a number parameter whose value the model decides (e.g. a probe's background
/// input value: scGPT's bins and Geneformer's scales differ). The plugin receives this string
/// and reads the number from the [`ModelInfo`](crate::ModelInfo) it computes with; a workflow
/// may also write it.
pub const FROM_MODEL: &str = "model";

/// The closed interval a number parameter, or every item of a list parameter, must lie in. NaN
/// lies in no range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParamRange {
    pub min: f64,
    pub max: f64,
}

impl ParamRange {
    fn contains(&self, x: f64) -> bool {
        self.min <= x && x <= self.max
    }
}

impl fmt::Display for ParamRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", Number(self.min), Number(self.max))
    }
}

/// A bound or an out-of-range value as people write it: 1e-12, not 0.000000000001.
struct Number(f64);

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0.abs();
        if a == 0.0 || !a.is_finite() || (1e-4..1e16).contains(&a) {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{:e}", self.0)
        }
    }
}

/// A declared parameter: name, type, default, the range it must lie in, and what it means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    pub name: String,
    pub kind: ParamKind,
    pub default: ParamValue,
    pub doc: String,
    /// Checked when a workflow is resolved (`ugrn check`). The component interface 0.1.0 does
    /// not carry it: a component checks its own ranges when called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<ParamRange>,
    /// A list that must hold at least one item (checked as `range` is).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub non_empty: bool,
}

impl ParamSpec {
    pub fn new(name: &str, kind: ParamKind, default: ParamValue, doc: &str) -> Self {
        ParamSpec { name: name.into(), kind, default, doc: doc.into(), range: None, non_empty: false }
    }

    /// This parameter (a number, or each item of a list) within `min..=max`.
    pub fn within(mut self, min: f64, max: f64) -> Self {
        self.range = Some(ParamRange { min, max });
        self
    }

    /// This list parameter with at least one item.
    pub fn non_empty(mut self) -> Self {
        self.non_empty = true;
        self
    }
    pub fn float(name: &str, default: f64, doc: &str) -> Self {
        Self::new(name, ParamKind::Float, ParamValue::Float(default), doc)
    }
    pub fn int(name: &str, default: i64, doc: &str) -> Self {
        Self::new(name, ParamKind::Int, ParamValue::Int(default), doc)
    }
    pub fn bool(name: &str, default: bool, doc: &str) -> Self {
        Self::new(name, ParamKind::Bool, ParamValue::Bool(default), doc)
    }
    pub fn string(name: &str, default: &str, doc: &str) -> Self {
        Self::new(name, ParamKind::Str, ParamValue::Str(default.into()), doc)
    }
    pub fn choice(name: &str, choices: &[&str], default: &str, doc: &str) -> Self {
        Self::new(
            name,
            ParamKind::Choice(choices.iter().map(|s| s.to_string()).collect()),
            ParamValue::Str(default.into()),
            doc,
        )
    }
    pub fn floats(name: &str, default: &[f64], doc: &str) -> Self {
        Self::new(
            name,
            ParamKind::FloatList,
            ParamValue::List(default.iter().map(|&x| ParamValue::Float(x)).collect()),
            doc,
        )
    }
    /// A number whose default is [`FROM_MODEL`].
    pub fn float_from_model(name: &str, doc: &str) -> Self {
        Self::new(name, ParamKind::Float, ParamValue::Str(FROM_MODEL.into()), doc)
    }
    /// A list of numbers whose default is [`FROM_MODEL`].
    pub fn floats_from_model(name: &str, doc: &str) -> Self {
        Self::new(name, ParamKind::FloatList, ParamValue::Str(FROM_MODEL.into()), doc)
    }
    pub fn ints(name: &str, default: &[i64], doc: &str) -> Self {
        Self::new(
            name,
            ParamKind::IntList,
            ParamValue::List(default.iter().map(|&x| ParamValue::Int(x)).collect()),
            doc,
        )
    }

    /// Whether the model decides this parameter's default.
    pub fn defaults_from_model(&self) -> bool {
        matches!(&self.default, ParamValue::Str(s) if s == FROM_MODEL)
    }

    /// Checks `value` against the kind and the range, widening integers to floats where a
    /// number is asked.
    fn accept(&self, value: ParamValue) -> Result<ParamValue> {
        let value = self.accept_kind(value)?;
        self.check_range(&value)?;
        Ok(value)
    }

    fn check_range(&self, value: &ParamValue) -> Result<()> {
        if let ParamValue::List(items) = value
            && items.is_empty()
            && self.non_empty
        {
            return Err(Error::param(&self.name, "expected at least one value"));
        }
        let Some(range) = self.range else { return Ok(()) };
        let outside = |x: f64| Error::param(&self.name, format!("{} is outside {range}", Number(x)));
        match value {
            ParamValue::Int(i) if !range.contains(*i as f64) => Err(outside(*i as f64)),
            ParamValue::Float(x) if !range.contains(*x) => Err(outside(*x)),
            ParamValue::List(items) => items.iter().try_for_each(|v| self.check_range(v)),
            _ => Ok(()),
        }
    }

    fn accept_kind(&self, value: ParamValue) -> Result<ParamValue> {
        let wrong = |v: &ParamValue| {
            let or_model = if self.defaults_from_model() { format!(" or {FROM_MODEL:?}") } else { String::new() };
            Error::param(&self.name, format!("expected {}{or_model}, got {v}", self.kind))
        };
        match (&self.kind, value) {
            (_, ParamValue::Str(s)) if s == FROM_MODEL && self.defaults_from_model() => Ok(ParamValue::Str(s)),
            (ParamKind::Bool, v @ ParamValue::Bool(_)) => Ok(v),
            (ParamKind::Int, v @ ParamValue::Int(_)) => Ok(v),
            (ParamKind::Float, ParamValue::Int(i)) => Ok(ParamValue::Float(i as f64)),
            (ParamKind::Float, v @ ParamValue::Float(_)) => Ok(v),
            (ParamKind::Str, v @ ParamValue::Str(_)) => Ok(v),
            (ParamKind::Choice(choices), ParamValue::Str(s)) => {
                if choices.contains(&s) {
                    Ok(ParamValue::Str(s))
                } else {
                    Err(Error::param(&self.name, format!("{s:?} is not one of {}", choices.join(", "))))
                }
            }
            (ParamKind::FloatList, ParamValue::List(items)) => items
                .into_iter()
                .map(|v| match v {
                    ParamValue::Int(i) => Ok(ParamValue::Float(i as f64)),
                    v @ ParamValue::Float(_) => Ok(v),
                    v => Err(wrong(&v)),
                })
                .collect::<Result<Vec<_>>>()
                .map(ParamValue::List),
            (ParamKind::IntList, ParamValue::List(items)) => items
                .into_iter()
                .map(|v| match v {
                    v @ ParamValue::Int(_) => Ok(v),
                    v => Err(wrong(&v)),
                })
                .collect::<Result<Vec<_>>>()
                .map(ParamValue::List),
            (_, v) => Err(wrong(&v)),
        }
    }
}

/// A complete, checked parameter table: every declared key has a value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Params {
    values: BTreeMap<String, ParamValue>,
}

impl Params {
    /// Resolves `given` against `specs`: unknown keys and wrong types are errors naming the key;
    /// missing keys take their defaults.
    pub fn resolve(specs: &[ParamSpec], given: BTreeMap<String, ParamValue>) -> Result<Params> {
        let mut values = BTreeMap::new();
        for (key, value) in given {
            let Some(spec) = specs.iter().find(|s| s.name == key) else {
                let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
                let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
                return Err(Error::param(key, format!("unknown parameter (known: {known})")));
            };
            values.insert(key, spec.accept(value)?);
        }
        for spec in specs {
            values.entry(spec.name.clone()).or_insert_with(|| spec.default.clone());
        }
        Ok(Params { values })
    }

    /// Defaults only.
    pub fn defaults(specs: &[ParamSpec]) -> Params {
        Params { values: specs.iter().map(|s| (s.name.clone(), s.default.clone())).collect() }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &ParamValue)> {
        self.values.iter()
    }

    pub fn get(&self, key: &str) -> Result<&ParamValue> {
        self.values.get(key).ok_or_else(|| Error::param(key, "not declared by the plugin"))
    }

    pub fn f64(&self, key: &str) -> Result<f64> {
        match self.get(key)? {
            ParamValue::Float(x) => Ok(*x),
            ParamValue::Int(i) => Ok(*i as f64),
            v => Err(Error::param(key, format!("expected a number, got {v}"))),
        }
    }

    pub fn i64(&self, key: &str) -> Result<i64> {
        match self.get(key)? {
            ParamValue::Int(i) => Ok(*i),
            v => Err(Error::param(key, format!("expected an integer, got {v}"))),
        }
    }

    pub fn usize(&self, key: &str) -> Result<usize> {
        let i = self.i64(key)?;
        usize::try_from(i).map_err(|_| Error::param(key, format!("expected a non-negative integer, got {i}")))
    }

    pub fn bool(&self, key: &str) -> Result<bool> {
        match self.get(key)? {
            ParamValue::Bool(b) => Ok(*b),
            v => Err(Error::param(key, format!("expected true or false, got {v}"))),
        }
    }

    pub fn str(&self, key: &str) -> Result<&str> {
        match self.get(key)? {
            ParamValue::Str(s) => Ok(s),
            v => Err(Error::param(key, format!("expected a string, got {v}"))),
        }
    }

    pub fn f64_list(&self, key: &str) -> Result<Vec<f64>> {
        match self.get(key)? {
            ParamValue::List(items) => items
                .iter()
                .map(|v| match v {
                    ParamValue::Float(x) => Ok(*x),
                    ParamValue::Int(i) => Ok(*i as f64),
                    v => Err(Error::param(key, format!("expected numbers, got {v}"))),
                })
                .collect(),
            v => Err(Error::param(key, format!("expected a list of numbers, got {v}"))),
        }
    }

    /// Whether `key` is [`FROM_MODEL`]: the plugin reads its value from the model.
    pub fn is_from_model(&self, key: &str) -> bool {
        matches!(self.values.get(key), Some(ParamValue::Str(s)) if s == FROM_MODEL)
    }

    pub fn usize_list(&self, key: &str) -> Result<Vec<usize>> {
        match self.get(key)? {
            ParamValue::List(items) => items
                .iter()
                .map(|v| match v {
                    ParamValue::Int(i) if *i >= 0 => Ok(*i as usize),
                    v => Err(Error::param(key, format!("expected non-negative integers, got {v}"))),
                })
                .collect(),
            v => Err(Error::param(key, format!("expected a list of integers, got {v}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_lists_are_integers_only_when_every_item_is_one() {
        use ParamValue::{Float, Int, List, Str};
        assert_eq!(NumberList::of("k", &[Int(1), Int(-2)]).unwrap(), NumberList::Integers(vec![1, -2]));
        assert_eq!(NumberList::of("k", &[Int(1), Float(2.5)]).unwrap(), NumberList::Numbers(vec![1.0, 2.5]));
        assert_eq!(NumberList::of("k", &[Float(0.5)]).unwrap(), NumberList::Numbers(vec![0.5]));
        assert_eq!(NumberList::of("k", &[]).unwrap(), NumberList::Numbers(vec![]));
        for (items, shown) in [(vec![Int(1), Str("a".into())], "\"a\""), (vec![List(vec![Int(1)])], "[1]")] {
            assert_eq!(
                NumberList::of("layers", &items).unwrap_err().to_string(),
                format!(
                    "parameter `layers`: a list holding {shown} cannot cross the component interface (numbers only)"
                )
            );
        }
    }

    fn specs() -> Vec<ParamSpec> {
        vec![
            ParamSpec::float("background", 1.0, "background value"),
            ParamSpec::floats("targets", &[5.0, 10.0], "targets"),
            ParamSpec::choice("context", &["pair", "dataset"], "pair", "context"),
        ]
    }

    #[test]
    fn resolves_defaults_and_widens_ints() {
        let given = BTreeMap::from([
            ("background".to_string(), ParamValue::Int(2)),
            ("targets".to_string(), ParamValue::List(vec![ParamValue::Int(1), ParamValue::Float(2.5)])),
        ]);
        let p = Params::resolve(&specs(), given).unwrap();
        assert_eq!(p.f64("background").unwrap(), 2.0);
        assert_eq!(p.f64_list("targets").unwrap(), vec![1.0, 2.5]);
        assert_eq!(p.str("context").unwrap(), "pair");
    }

    #[test]
    fn a_model_default_is_kept_given_or_replaced() {
        let specs = [
            ParamSpec::float_from_model("background", "background value"),
            ParamSpec::floats_from_model("targets", "targets"),
            ParamSpec::float("scale", 1.0, "scale"),
        ];
        let defaults = Params::resolve(&specs, BTreeMap::new()).unwrap();
        assert!(defaults.is_from_model("background") && defaults.is_from_model("targets"));
        assert!(!defaults.is_from_model("scale"));
        let given = BTreeMap::from([
            ("background".to_string(), ParamValue::Str(FROM_MODEL.into())),
            ("targets".to_string(), ParamValue::List(vec![ParamValue::Int(3)])),
        ]);
        let p = Params::resolve(&specs, given).unwrap();
        assert!(p.is_from_model("background") && !p.is_from_model("targets"));
        assert_eq!(p.f64_list("targets").unwrap(), vec![3.0]);
        let wrong = |key: &str, v: &str| {
            let given = BTreeMap::from([(key.to_string(), ParamValue::Str(v.into()))]);
            Params::resolve(&specs, given).unwrap_err().to_string()
        };
        assert_eq!(wrong("background", "auto"), "parameter `background`: expected number or \"model\", got \"auto\"");
        assert_eq!(wrong("targets", "x"), "parameter `targets`: expected list of numbers or \"model\", got \"x\"");
        // Only a parameter the model decides takes the word.
        assert_eq!(wrong("scale", FROM_MODEL), "parameter `scale`: expected number, got \"model\"");
    }

    #[test]
    fn ranges_bound_numbers_and_list_items() {
        let specs = [
            ParamSpec::int("epochs", 10, "epochs").within(1.0, 1000.0),
            ParamSpec::float("rate", 0.1, "rate").within(1e-9, 10.0),
            ParamSpec::ints("hidden", &[8], "widths").within(1.0, 4096.0),
            ParamSpec::floats_from_model("targets", "targets").within(-100.0, 100.0).non_empty(),
        ];
        let resolve = |key: &str, v: ParamValue| Params::resolve(&specs, BTreeMap::from([(key.to_string(), v)]));
        let err = |key: &str, v: ParamValue| resolve(key, v).unwrap_err().to_string();
        use ParamValue::{Float, Int, List, Str};
        assert_eq!(err("epochs", Int(0)), "parameter `epochs`: 0 is outside 1..=1000");
        assert_eq!(err("epochs", Int(-1)), "parameter `epochs`: -1 is outside 1..=1000");
        assert_eq!(err("rate", Float(f64::NAN)), "parameter `rate`: NaN is outside 1e-9..=10");
        assert_eq!(err("rate", Int(11)), "parameter `rate`: 11 is outside 1e-9..=10");
        assert_eq!(err("rate", Float(-2e-20)), "parameter `rate`: -2e-20 is outside 1e-9..=10");
        assert_eq!(
            err("hidden", List(vec![Int(8), Int(100000000000)])),
            "parameter `hidden`: 100000000000 is outside 1..=4096"
        );
        assert_eq!(err("targets", List(vec![])), "parameter `targets`: expected at least one value");
        assert_eq!(
            err("targets", List(vec![Float(1.0), Float(f64::INFINITY)])),
            "parameter `targets`: inf is outside -100..=100"
        );
        // Without `non_empty` an empty list passes.
        assert_eq!(resolve("hidden", List(vec![])).unwrap().usize_list("hidden").unwrap(), Vec::<usize>::new());
        // The bounds themselves, the defaults and the model's word are in range.
        assert_eq!(resolve("epochs", Int(1000)).unwrap().usize("epochs").unwrap(), 1000);
        assert_eq!(resolve("rate", Float(1e-9)).unwrap().f64("rate").unwrap(), 1e-9);
        assert!(resolve("targets", Str(FROM_MODEL.into())).unwrap().is_from_model("targets"));
        assert_eq!(Params::resolve(&specs, BTreeMap::new()).unwrap().usize_list("hidden").unwrap(), vec![8]);
    }

    #[test]
    fn unknown_key_is_named() {
        let given = BTreeMap::from([("backgrond".to_string(), ParamValue::Float(2.0))]);
        let err = Params::resolve(&specs(), given).unwrap_err();
        assert_eq!(err.to_string(), "parameter `backgrond`: unknown parameter (known: background, targets, context)");
    }

    #[test]
    fn wrong_type_and_bad_choice_are_named() {
        let given = BTreeMap::from([("background".to_string(), ParamValue::Str("x".into()))]);
        let err = Params::resolve(&specs(), given).unwrap_err();
        assert_eq!(err.to_string(), "parameter `background`: expected number, got \"x\"");
        let given = BTreeMap::from([("context".to_string(), ParamValue::Str("all".into()))]);
        let err = Params::resolve(&specs(), given).unwrap_err();
        assert_eq!(err.to_string(), "parameter `context`: \"all\" is not one of pair, dataset");
    }
}
