//! Scalar UDFs the analysis plans call.
//!
//! - `hash64(text)`: a 64-bit xxh3 hash of a string as BIGINT (a compact join and group key for texts, URLs
//!   and accounts; NULL stays NULL).
//! - `key_hash(text, seed)`: xxh3 with a seed, so keys of different kinds hash apart.
//! - `token_count(text_norm)`: the number of words (see `echolens_text::tokens`).
//! - `has_tokens(text_norm, n)`: whether the text has at least `n` words (reads only as far as it must).
//! - `registrable_domain(url)`: the URL's registrable domain by the Public Suffix List (NULL without a host).
//! - `url_domains(urls)`: the distinct registrable domains of a list of URLs (a message's links), in order of
//!   first appearance: what "messages per domain" counts, with no grouping by message to count each once.
//! - `shortener(domain)`: whether the domain is a URL shortener (`echolens_text::is_shortener`).
//! - `time_key(key, ts)`: bytes that sort as the pair (ts, key) does, so `min(time_key(key, ts))` is a group's
//!   first message, ties broken by key (NULL where either is).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array};
use arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionImplementation, ScalarUDF, Signature, SimpleScalarUDF, TypeSignature, Volatility,
};
use datafusion::prelude::SessionContext;

/// Register the echolens UDFs in `ctx`.
pub fn register_udfs(ctx: &SessionContext) {
    for udf in udfs() {
        ctx.register_udf(udf);
    }
}

/// The echolens UDFs, for a process that registers functions its own way (a cluster's executors).
pub fn udfs() -> Vec<ScalarUDF> {
    vec![
        hash64_udf(),
        token_count_udf(),
        has_tokens_udf(),
        key_hash_udf(),
        script_udf(),
        registrable_domain_udf(),
        url_domains_udf(),
        shortener_udf(),
        time_key_udf(),
    ]
}

fn time_key_udf() -> ScalarUDF {
    string_udf(
        "time_key",
        &[DataType::Int64],
        DataType::Binary,
        Arc::new(|args: &[ColumnarValue]| {
            let (key, ts) = string_and_int(args)?;
            let mut out = arrow::array::BinaryBuilder::with_capacity(key.len(), key.len() * 40);
            let mut bytes = Vec::new();
            for (k, t) in key.iter().zip(ts.iter()) {
                match (k, t) {
                    (Some(k), Some(t)) => {
                        time_key(t, k, &mut bytes);
                        out.append_value(&bytes);
                    }
                    _ => out.append_null(),
                }
            }
            let out: ArrayRef = Arc::new(out.finish());
            Ok(ColumnarValue::Array(out))
        }),
    )
}

/// `ts` (its sign bit flipped, big-endian: bytes order as the numbers do) and then `key`, into `out`.
pub(crate) fn time_key(ts: i64, key: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&((ts as u64) ^ (1 << 63)).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
}

/// The (ts, key) of a [`time_key`] (`None`: not one).
pub(crate) fn from_time_key(bytes: &[u8]) -> Option<(i64, &str)> {
    let (ts, key) = bytes.split_first_chunk::<8>()?;
    Some(((u64::from_be_bytes(*ts) ^ (1 << 63)) as i64, std::str::from_utf8(key).ok()?))
}

fn registrable_domain_udf() -> ScalarUDF {
    string_udf(
        "registrable_domain",
        &[],
        DataType::Utf8,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let input = crate::table::Strs::of(&arrays[0]).map_err(|e| DataFusionError::External(Box::new(e)))?;
            let out: arrow::array::StringArray =
                input.iter().map(|v| v.and_then(echolens_text::registrable_domain)).collect();
            let out: ArrayRef = Arc::new(out);
            Ok(ColumnarValue::Array(out))
        }),
    )
}

fn url_domains_udf() -> ScalarUDF {
    use arrow::array::{ListArray, ListBuilder, StringBuilder};
    use arrow::datatypes::Field;
    let list = |item: DataType| DataType::List(Arc::new(Field::new_list_field(item, true)));
    let signature = Signature::one_of(
        vec![TypeSignature::Exact(vec![list(DataType::Utf8)]), TypeSignature::Exact(vec![list(DataType::Utf8View)])],
        Volatility::Immutable,
    );
    let fun: ScalarFunctionImplementation = Arc::new(|args: &[ColumnarValue]| {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let lists = arrays[0]
            .as_any()
            .downcast_ref::<ListArray>()
            .ok_or_else(|| DataFusionError::Internal("url_domains: not a list".into()))?;
        let urls = crate::table::Strs::of(lists.values()).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let mut out = ListBuilder::with_capacity(StringBuilder::new(), lists.len());
        let offsets = lists.value_offsets();
        let mut seen: Vec<&str> = Vec::new();
        for i in 0..lists.len() {
            if lists.is_null(i) {
                out.append_null();
                continue;
            }
            seen.clear();
            for j in offsets[i] as usize..offsets[i + 1] as usize {
                if let Some(d) = urls.is_valid(j).then(|| urls.value(j)).and_then(echolens_text::registrable_domain)
                    && !seen.contains(&d)
                {
                    seen.push(d);
                    out.values().append_value(d);
                }
            }
            out.append(true);
        }
        let out: ArrayRef = Arc::new(out.finish());
        Ok(ColumnarValue::Array(out))
    });
    ScalarUDF::from(SimpleScalarUDF::new_with_signature("url_domains", signature, list(DataType::Utf8), fun))
}

fn shortener_udf() -> ScalarUDF {
    string_udf(
        "shortener",
        &[],
        DataType::Boolean,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let input = crate::table::Strs::of(&arrays[0]).map_err(|e| DataFusionError::External(Box::new(e)))?;
            let out: arrow::array::BooleanArray = input.iter().map(|v| v.map(echolens_text::is_shortener)).collect();
            let out: ArrayRef = Arc::new(out);
            Ok(ColumnarValue::Array(out))
        }),
    )
}

/// The parameterised UDF `name(text)` ([`parameterised`]) giving each text a list of `T`: `each` appends a
/// text's values, with scratch state `S` kept across a batch's texts; a null text gives an empty list. The lists
/// are for unnesting and grouping (the term sets' hits, keyness's phrases).
pub(crate) fn text_list_udf<T, S, F>(name: &str, param: String, each: F) -> ScalarUDF
where
    T: arrow::datatypes::ArrowPrimitiveType,
    S: Default,
    F: Fn(&str, &mut S, &mut arrow::array::PrimitiveBuilder<T>) + Send + Sync + 'static,
{
    use arrow::array::{ListBuilder, PrimitiveBuilder};
    let ret = DataType::List(Arc::new(arrow::datatypes::Field::new_list_field(T::DATA_TYPE, true)));
    let udf = string_udf(
        name,
        &[],
        ret,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let text = crate::table::Strs::of(&arrays[0]).map_err(|e| DataFusionError::External(Box::new(e)))?;
            let mut out = ListBuilder::with_capacity(PrimitiveBuilder::<T>::new(), text.len());
            let mut state = S::default();
            for t in text.iter() {
                if let Some(t) = t {
                    each(t, &mut state, out.values());
                }
                out.append(true);
            }
            let out: ArrayRef = Arc::new(out.finish());
            Ok(ColumnarValue::Array(out))
        }),
    );
    parameterised(udf, param)
}

/// An immutable UDF whose first argument is a string, taken as views or as plain strings, as it comes: with a
/// plain `Utf8` signature the engine cast the views it reads Parquet strings as, copying every text of every
/// batch before the function saw it.
pub(crate) fn string_udf(name: &str, rest: &[DataType], ret: DataType, fun: ScalarFunctionImplementation) -> ScalarUDF {
    let exact = |first: DataType| TypeSignature::Exact(std::iter::once(first).chain(rest.iter().cloned()).collect());
    let signature = Signature::one_of(vec![exact(DataType::Utf8View), exact(DataType::Utf8)], Volatility::Immutable);
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(name, signature, ret, fun))
}

/// `script(text)`: the code of the script the text is mostly in ([`echolens_text::Script::code`]).
fn script_udf() -> ScalarUDF {
    string_udf(
        "script",
        &[],
        DataType::Int64,
        Arc::new(|args: &[ColumnarValue]| map_strings(args, |t| echolens_text::script(t).code())),
    )
}

fn key_hash_udf() -> ScalarUDF {
    string_udf(
        "key_hash",
        &[DataType::Int64],
        DataType::Int64,
        Arc::new(|args: &[ColumnarValue]| {
            let (text, seed) = string_and_int(args)?;
            let out: Int64Array = text
                .iter()
                .zip(seed.iter())
                .map(|(t, s)| Some(xxhash_rust::xxh3::xxh3_64_with_seed(t?.as_bytes(), s? as u64) as i64))
                .collect();
            let out: ArrayRef = Arc::new(out);
            Ok(ColumnarValue::Array(out))
        }),
    )
}

/// The hash `hash64` computes, for use outside plans.
pub fn hash64(s: &str) -> i64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes()) as i64
}

pub(crate) fn map_strings(args: &[ColumnarValue], f: impl Fn(&str) -> i64) -> Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let input = crate::table::Strs::of(&arrays[0]).map_err(|e| DataFusionError::External(Box::new(e)))?;
    let out: Int64Array = input.iter().map(|v| v.map(&f)).collect();
    let out: ArrayRef = Arc::new(out);
    Ok(ColumnarValue::Array(out))
}

/// The arguments of a `(Utf8, Int64)` UDF as arrays (strings read in place).
fn string_and_int(args: &[ColumnarValue]) -> Result<(crate::table::Strs, Int64Array)> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let text = crate::table::Strs::of(&arrays[0]).map_err(|e| DataFusionError::External(Box::new(e)))?;
    let int = arrow::compute::cast(&arrays[1], &DataType::Int64)?;
    let int = int.as_any().downcast_ref::<Int64Array>().expect("cast to Int64 gives an Int64Array").clone();
    Ok((text, int))
}

fn hash64_udf() -> ScalarUDF {
    string_udf("hash64", &[], DataType::Int64, Arc::new(|args: &[ColumnarValue]| map_strings(args, hash64)))
}

fn token_count_udf() -> ScalarUDF {
    string_udf(
        "token_count",
        &[],
        DataType::Int64,
        Arc::new(|args: &[ColumnarValue]| {
            map_strings(args, |s| i64::try_from(echolens_text::token_count(s)).unwrap_or(i64::MAX))
        }),
    )
}

fn has_tokens_udf() -> ScalarUDF {
    string_udf(
        "has_tokens",
        &[DataType::Int64],
        DataType::Boolean,
        Arc::new(|args: &[ColumnarValue]| {
            let (text, n) = string_and_int(args)?;
            let out: arrow::array::BooleanArray = text
                .iter()
                .zip(n.iter())
                .map(|(t, n)| {
                    let (t, n) = (t?, usize::try_from(n?.max(0)).unwrap_or(usize::MAX));
                    Some(echolens_text::token_count_capped(t, n) >= n)
                })
                .collect();
            let out: ArrayRef = Arc::new(out);
            Ok(ColumnarValue::Array(out))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    #[tokio::test]
    async fn url_domains_gives_each_message_its_distinct_domains() {
        use arrow::array::{ListBuilder, StringBuilder, StringViewBuilder};
        use arrow::datatypes::{Field, Schema};
        let rows: [Option<&[Option<&str>]>; 5] = [
            Some(&[Some("https://a.example.co.uk/x"), Some("http://b.example.co.uk/y"), Some("https://t.me/c")]),
            Some(&[Some("not a url"), None]),
            None,
            Some(&[]),
            Some(&[Some("https://t.me/a"), Some("https://www.t.me/b"), Some("http://192.0.2.1/z")]),
        ];
        let mut plain = ListBuilder::new(StringBuilder::new());
        let mut views = ListBuilder::new(StringViewBuilder::new());
        for row in rows {
            match row {
                Some(urls) => {
                    for u in urls {
                        plain.values().append_option(*u);
                        views.values().append_option(*u);
                    }
                    plain.append(true);
                    views.append(true);
                }
                None => {
                    plain.append_null();
                    views.append_null();
                }
            }
        }
        let (plain, views) = (plain.finish(), views.finish());
        let schema = Arc::new(Schema::new(vec![
            Field::new("p", plain.data_type().clone(), true),
            Field::new("v", views.data_type().clone(), true),
        ]));
        let batch =
            arrow::record_batch::RecordBatch::try_new(schema.clone(), vec![Arc::new(plain), Arc::new(views)]).unwrap();
        let ctx = SessionContext::new();
        register_udfs(&ctx);
        let table = datafusion::datasource::MemTable::try_new(schema, vec![vec![batch]]).unwrap();
        ctx.register_table("t", Arc::new(table)).unwrap();
        let batches =
            ctx.sql("SELECT url_domains(p) AS a, url_domains(v) AS b FROM t").await.unwrap().collect().await.unwrap();
        let lists = |name: &str| -> Vec<Option<Vec<String>>> {
            let col =
                batches[0].column_by_name(name).unwrap().as_any().downcast_ref::<arrow::array::ListArray>().unwrap();
            (0..col.len())
                .map(|i| {
                    col.is_valid(i).then(|| {
                        let v = col.value(i);
                        let s = v.as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
                        s.iter().map(|x| x.unwrap().to_owned()).collect()
                    })
                })
                .collect()
        };
        let owned = |v: &[&str]| Some(v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        let expected =
            vec![owned(&["example.co.uk", "t.me"]), owned(&[]), None, owned(&[]), owned(&["t.me", "192.0.2.1"])];
        assert_eq!(lists("a"), expected);
        assert_eq!(lists("b"), expected);
    }

    proptest::proptest! {
        #[test]
        fn time_keys_sort_as_their_pairs(a in (proptest::num::i64::ANY, ".{0,6}"), b in (proptest::num::i64::ANY, ".{0,6}")) {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            time_key(a.0, &a.1, &mut x);
            time_key(b.0, &b.1, &mut y);
            proptest::prop_assert_eq!(x.cmp(&y), (a.0, a.1.as_str()).cmp(&(b.0, b.1.as_str())));
            proptest::prop_assert_eq!(from_time_key(&x), Some((a.0, a.1.as_str())));
        }
    }

    #[tokio::test]
    async fn udfs_in_sql() {
        let ctx = SessionContext::new();
        register_udfs(&ctx);
        let df = ctx
            .sql(
                "SELECT hash64('abc'), hash64(NULL), token_count('می\u{200C}شود، #tag see https://x.org a b'), \
                 has_tokens('a b c', 3), has_tokens('a b c', 4), key_hash('abc', 1), key_hash('abc', 2)",
            )
            .await
            .unwrap();
        let batches = df.collect().await.unwrap();
        let col = |i: usize| batches[0].column(i).as_any().downcast_ref::<Int64Array>().unwrap().clone();
        assert_eq!(col(0).value(0), hash64("abc"));
        assert!(col(1).is_null(0));
        assert_eq!(col(2).value(0), 5);
        let flag =
            |i: usize| batches[0].column(i).as_any().downcast_ref::<arrow::array::BooleanArray>().unwrap().value(0);
        assert!(flag(3));
        assert!(!flag(4));
        assert_eq!(col(5).value(0), xxhash_rust::xxh3::xxh3_64_with_seed(b"abc", 1) as i64);
        assert_ne!(col(5).value(0), col(6).value(0), "kinds hash apart");
    }

    #[tokio::test]
    async fn string_udfs_read_views_and_plain_strings_alike() {
        use arrow::array::{StringArray, StringViewArray};
        use arrow::datatypes::{Field, Schema};
        let texts = [Some("a short one"), None, Some("a text longer than twelve bytes, stored out of line")];
        let schema = Arc::new(Schema::new(vec![
            Field::new("v", DataType::Utf8View, true),
            Field::new("p", DataType::Utf8, true),
        ]));
        let batch = arrow::record_batch::RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringViewArray::from_iter(texts)), Arc::new(StringArray::from_iter(texts))],
        )
        .unwrap();
        let ctx = SessionContext::new();
        register_udfs(&ctx);
        let table = datafusion::datasource::MemTable::try_new(schema, vec![vec![batch]]).unwrap();
        ctx.register_table("t", Arc::new(table)).unwrap();
        let batches = ctx
            .sql(
                "SELECT hash64(v) AS a, hash64(p) AS b, key_hash(v, 3) AS c, key_hash(p, 3) AS d, \
                 token_count(v) AS e, token_count(p) AS f, script(v) AS g, script(p) AS h FROM t",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let col = |name: &str| crate::table::i64s(&batches[0], name).unwrap();
        for (x, y) in [("a", "b"), ("c", "d"), ("e", "f"), ("g", "h")] {
            assert_eq!(col(x), col(y), "{x} and {y}");
        }
        assert_eq!(col("a").value(2), hash64(texts[2].unwrap()));
        assert!(col("a").is_null(1));
        assert_eq!(col("e").value(2), 10);
    }
}

/// A UDF made from a parameter (a time zone, a lexicon). A cluster's processes know functions by name only:
/// they are sent the parameter and make the function again with [`rebuild`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct Parameterised {
    udf: ScalarUDF,
    param: String,
}

impl datafusion::logical_expr::ScalarUDFImpl for Parameterised {
    fn name(&self) -> &str {
        self.udf.name()
    }

    fn signature(&self) -> &Signature {
        self.udf.signature()
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.udf.return_type(args)
    }

    fn invoke_with_args(&self, args: datafusion::logical_expr::ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.udf.invoke_with_args(args)
    }
}

/// `udf`, which [`rebuild`] makes again from its name and `param`.
pub(crate) fn parameterised(udf: ScalarUDF, param: String) -> ScalarUDF {
    ScalarUDF::new_from_impl(Parameterised { udf, param })
}

/// The parameter `udf` was made from, when it was.
pub fn parameter_of(udf: &ScalarUDF) -> Option<&str> {
    udf.inner().downcast_ref::<Parameterised>().map(|p| p.param.as_str())
}

/// The parameterised UDF `name` made from `param` (see [`parameter_of`]).
pub fn rebuild(name: &str, param: &str) -> crate::Result<ScalarUDF> {
    match name {
        "local_day" => Ok(crate::zone::local_day_udf(crate::zone::parse(param)?)),
        "local_hour" => Ok(crate::zone::local_hour_udf(crate::zone::parse(param)?)),
        "lexicon_mask" => {
            let entries = serde_json::from_str(param)
                .map_err(|e| crate::Error::Param(format!("a lexicon sent with a plan does not read: {e}")))?;
            let lexicon = crate::vocabulary::lexicon::Lexicon::new(entries)?;
            Ok(crate::vocabulary::timeline::lexicon_udf(Arc::new(lexicon)))
        }
        "diffusion_hits" => crate::vocabulary::diffusion::rebuild_hits_udf(param),
        "keyness_phrases" => crate::vocabulary::keyness::rebuild_phrases_udf(param),
        other => Err(crate::Error::Param(format!("no parameterised function {other:?}"))),
    }
}

/// The fold UDAF `name` made from `param` (see [`crate::udaf_parameter_of`]).
pub fn rebuild_udaf(name: &str, param: &str) -> crate::Result<datafusion::logical_expr::AggregateUDF> {
    match (name, param) {
        ("keyness_words", "{}") => Ok(crate::vocabulary::keyness::words_udaf()),
        ("keyness_by_words", param) => crate::vocabulary::keyness_by::rebuild_by_words_udaf(param),
        ("similar_pairs", param) => crate::coordination::similar::rebuild_udaf(param),
        (other, _) => Err(crate::Error::Param(format!("no fold function {other:?} with that parameter"))),
    }
}
