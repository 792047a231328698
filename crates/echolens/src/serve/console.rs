//! The SQL console's session: `messages`, `quarantine` and `accounts` as views that show what every output
//! shows (accounts, personal channels, handles in text and display names pseudonymised, quarantined raw records
//! withheld) unless `--reveal`, and the tables of the `analyze` folder, each as `folder_name`
//! (`coordination_edges`). The stored tables themselves are not in its catalog, so no query can name them; the
//! session reads no other file (URL tables are off, DDL refused).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{Array, ArrayRef, ListArray, StringArray, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::prelude::{CsvReadOptions, SessionContext, col};
use echolens_analysis::{Pseudonyms, Strs};
use echolens_store::Store;

/// Statements the console runs: queries. No DDL (`CREATE EXTERNAL TABLE` over any file), no DML (`INSERT`,
/// `COPY … TO`), no other statements (`SET`).
pub(super) fn read_only() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

/// The console's session over `store` (and the tables of `results`).
pub(super) async fn session(
    store: &Store,
    pseudonyms: &Arc<Pseudonyms>,
    reveal: bool,
    results: Option<&Path>,
    memory: usize,
) -> Result<SessionContext> {
    let ctx = crate::run::session(store, memory, &crate::run::Engine::Local).await?;
    if !reveal {
        for udf in pseudonym_udfs(pseudonyms) {
            ctx.register_udf(udf);
        }
        for (name, columns) in [("messages", MESSAGES), ("quarantine", QUARANTINE), ("accounts", ACCOUNTS)] {
            let stored = ctx.table(name).await?;
            let exprs = columns
                .iter()
                .map(|(column, shown)| match shown {
                    None => Ok(col(*column)),
                    Some(sql) => stored.parse_sql_expr(sql).map(|e| e.alias(*column)),
                })
                .collect::<datafusion::error::Result<Vec<_>>>()
                .with_context(|| format!("the console's view of {name}"))?;
            let view = stored.select(exprs)?;
            ctx.deregister_table(name)?;
            ctx.register_table(name, view.into_view())?;
        }
        // The views call the pseudonymising functions by name: a query may too, but none undoes them.
    }
    if let Some(results) = results {
        for (name, path) in result_tables(results)? {
            let options = CsvReadOptions::new().has_header(true).schema_infer_max_records(10_000);
            ctx.register_csv(&name, path.to_string_lossy().as_ref(), options)
                .await
                .with_context(|| format!("reading {}", path.display()))?;
        }
    }
    Ok(ctx)
}

/// Each column of `messages` and how the console shows it (`None`: as stored).
const MESSAGES: &[(&str, Option<&str>)] = &[
    ("key", Some("pseudonym_key(key)")),
    ("platform", None),
    ("channel_id", Some("pseudonym_channel_id(platform, channel_id)")),
    ("channel_name", Some("pseudonym_channel_name(platform, channel_id, coalesce(channel_name, channel_id))")),
    ("message_id", None),
    ("author_id", Some("pseudonym_id(platform, author_id)")),
    ("author_name", Some("pseudonym_id(platform, author_id)")),
    ("ts", None),
    ("ts_exact", None),
    ("edited", None),
    ("text", Some("pseudonym_text(text)")),
    ("text_norm", Some("pseudonym_text(text_norm)")),
    ("urls", Some("pseudonym_texts(urls)")),
    ("hashtags", None),
    ("mentions", Some("pseudonym_mentions(mentions)")),
    ("forwarded_from", Some("pseudonym_name(forwarded_from)")),
    ("reply_to", Some("pseudonym_key(reply_to)")),
    ("repost_of", Some("pseudonym_key(repost_of)")),
    ("source_file", None),
    ("source_record", None),
    ("quote_of", Some("pseudonym_key(quote_of)")),
    ("collected_at", None),
    ("signature", Some("pseudonym_name(signature)")),
    ("via_bot", Some("pseudonym_name(via_bot)")),
    ("views", None),
    ("likes", None),
    ("shares", None),
    ("replies", None),
    ("quotes", None),
    ("reactions", None),
];

/// `quarantine`: the raw record may hold any id or handle, and is withheld.
const QUARANTINE: &[(&str, Option<&str>)] = &[
    ("source_file", None),
    ("source_record", None),
    ("format", None),
    ("reason", Some("pseudonym_text(reason)")),
    ("raw", Some("'(withheld: serve with --reveal)'")),
];

/// `accounts`: the id pseudonymised, the self-described location withheld.
const ACCOUNTS: &[(&str, Option<&str>)] = &[
    ("platform", None),
    ("author_id", Some("pseudonym_id(platform, author_id)")),
    ("source_file", None),
    ("observations", None),
    ("first_seen", None),
    ("last_seen", None),
    ("created", None),
    ("followers", None),
    ("following", None),
    ("location", Some("CAST(NULL AS VARCHAR)")),
    ("language", None),
    ("clients", None),
];

/// The tables of an `analyze` folder, named `folder_name` from their path (`coordination/edges.csv` →
/// `coordination_edges`, `vocabulary/1-cluster-1/keyness.csv` → `vocabulary_1_cluster_1_keyness`), in order.
pub(super) fn result_tables(results: &Path) -> Result<Vec<(String, std::path::PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![(results.to_owned(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() && depth < 2 && !path.ends_with("store") {
                stack.push((path, depth + 1));
            } else if depth > 0 && path.extension().is_some_and(|e| e == "csv") {
                let relative = path.strip_prefix(results).unwrap_or(&path).with_extension("");
                let name: String = relative
                    .to_string_lossy()
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
                    .collect();
                out.push((name, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The functions the views call: each maps stored values to shown ones with the store's pseudonyms.
fn pseudonym_udfs(p: &Arc<Pseudonyms>) -> Vec<ScalarUDF> {
    let list = DataType::List(Arc::new(arrow::datatypes::Field::new("element", DataType::Utf8, true)));
    let mut out = Vec::new();
    let text_udf = |name: &str, args: usize, f: Arc<RowFn>| {
        let fun = Arc::new(move |values: &[ColumnarValue]| strings_map(values, args, f.as_ref()));
        create_udf(name, vec![DataType::Utf8; args], DataType::Utf8, Volatility::Immutable, fun)
    };
    let q = Arc::clone(p);
    out.push(text_udf("pseudonym_key", 1, Arc::new(move |a| q.key(a[0]))));
    let q = Arc::clone(p);
    out.push(text_udf("pseudonym_channel_id", 2, Arc::new(move |a| q.channel_id(a[0], a[1]))));
    let q = Arc::clone(p);
    out.push(text_udf("pseudonym_channel_name", 3, Arc::new(move |a| q.channel_name(a[0], a[1], a[2]))));
    let q = Arc::clone(p);
    out.push(text_udf("pseudonym_id", 2, Arc::new(move |a| q.id(a[0], a[1]))));
    let q = Arc::clone(p);
    out.push(text_udf("pseudonym_text", 1, Arc::new(move |a| q.text(a[0]))));
    let q = Arc::clone(p);
    out.push(text_udf("pseudonym_name", 1, Arc::new(move |a| q.source_name(a[0]))));
    let q = Arc::clone(p);
    let urls = Arc::new(move |values: &[ColumnarValue]| list_map(values, &|u| q.text(u)));
    out.push(create_udf("pseudonym_texts", vec![list.clone()], list.clone(), Volatility::Immutable, urls));
    let q = Arc::clone(p);
    let mentions = Arc::new(move |values: &[ColumnarValue]| {
        list_map(values, &|m| {
            let shown = q.text(&format!("@{}", m.trim_start_matches('@')));
            shown.trim_start_matches('@').to_owned()
        })
    });
    out.push(create_udf("pseudonym_mentions", vec![list.clone()], list, Volatility::Immutable, mentions));
    out
}

/// A function from a row's string arguments to a string.
type RowFn = dyn Fn(&[&str]) -> String + Send + Sync;

/// `f` over rows of `args` string columns (NULL where any is NULL).
fn strings_map(values: &[ColumnarValue], args: usize, f: &RowFn) -> datafusion::error::Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(values)?;
    let columns = arrays
        .iter()
        .take(args)
        .map(|a| Strs::of(a).map_err(|e| DataFusionError::External(Box::new(e))))
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let rows = arrays.first().map_or(0, |a| a.len());
    let mut out = StringBuilder::with_capacity(rows, rows * 16);
    let mut row: Vec<&str> = Vec::with_capacity(args);
    for i in 0..rows {
        row.clear();
        if columns.iter().any(|c| c.is_null(i)) {
            out.append_null();
            continue;
        }
        row.extend(columns.iter().map(|c| c.value(i)));
        out.append_value(f(&row));
    }
    let out: ArrayRef = Arc::new(out.finish());
    Ok(ColumnarValue::Array(out))
}

/// `f` over every string of a list column.
fn list_map(values: &[ColumnarValue], f: &dyn Fn(&str) -> String) -> datafusion::error::Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(values)?;
    let lists = arrays[0].as_any().downcast_ref::<ListArray>().ok_or_else(|| {
        DataFusionError::Internal(format!("expected a list of strings, got {}", arrays[0].data_type()))
    })?;
    let items = arrow::compute::cast(lists.values(), &DataType::Utf8)?;
    let items = items.as_any().downcast_ref::<StringArray>().expect("cast to Utf8 gives strings");
    let shown: StringArray = items.iter().map(|v| v.map(f)).collect();
    let field = Arc::new(arrow::datatypes::Field::new("element", DataType::Utf8, true));
    let out = ListArray::try_new(field, lists.offsets().clone(), Arc::new(shown), lists.nulls().cloned())?;
    let out: ArrayRef = Arc::new(out);
    Ok(ColumnarValue::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_tables_are_named_after_their_path() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["coordination/edges.csv", "vocabulary/1-cluster-1/keyness.csv", "store/x/y.csv", "top.csv"] {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "a\n1\n").unwrap();
        }
        let names: Vec<String> = result_tables(dir.path()).unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["coordination_edges", "vocabulary_1_cluster_1_keyness"]);
    }
}
