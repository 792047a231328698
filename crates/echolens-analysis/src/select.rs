//! Selectors: which part of the corpus a command looks at (`channel=NAME|ID`, `author=ID`, `platform=NAME`,
//! `since=DATE`, `until=DATE`, `where=SQL`).
//!
//! A [`Selection`] is a list of selectors. Selectors of different kinds combine with AND; the same kind given
//! twice combines with OR, so `channel=a channel=b since=2024-03-01` is "channel a or b, from March 1st". A
//! selection compiles to a DataFusion [`Expr`] over the `messages` table ([`Selection::expr`]): values are
//! literals, so a channel name is never read as SQL; `where=` is the user's own SQL, parsed against the table's
//! schema. The analyses read a selection through [`Selection::register`], a view of the messages it holds.
//! The library composes selections from predicates it builds itself ([`Selector::Expr`]), never from SQL text.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::common::ScalarValue;
use datafusion::prelude::{Expr, SessionContext, col, lit};

use crate::{Error, Result};

/// One selector.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// A channel, by id or name.
    Channel(String),
    /// An author, by id or as `platform:id`.
    Author(String),
    /// A platform.
    Platform(String),
    /// Messages at or after this time.
    Since(DateTime<Utc>),
    /// Messages before this time (a date given alone includes its whole day).
    Until(DateTime<Utc>),
    /// A SQL predicate over the `messages` columns.
    Where(String),
    /// A predicate built by the library (never parsed from text), shown as its label.
    Expr {
        /// The predicate over the `messages` columns.
        expr: Expr,
        /// What it selects, in words.
        label: String,
    },
}

impl Selector {
    /// Parse `kind=value` (a date alone is a UTC day).
    pub fn parse(s: &str) -> Result<Selector> {
        Selector::parse_in(s, None)
    }

    /// Parse `kind=value`, a date alone being a day in `zone` (UTC without one).
    pub fn parse_in(s: &str, zone: Option<chrono_tz::Tz>) -> Result<Selector> {
        let Some((kind, value)) = s.split_once('=') else {
            return Err(Error::Param(format!(
                "selector {s:?} is not kind=value; kinds: channel, author, platform, since, until, where"
            )));
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(Error::Param(format!("selector {s:?} has an empty value")));
        }
        Ok(match kind.trim() {
            "channel" => Selector::Channel(value.to_owned()),
            "author" => Selector::Author(value.to_owned()),
            "platform" => Selector::Platform(value.to_owned()),
            "since" => {
                Selector::Since(parse_time(value, false, zone).map_err(|e| Error::Param(format!("{s:?}: {e}")))?)
            }
            "until" => Selector::Until(parse_time(value, true, zone).map_err(|e| Error::Param(format!("{s:?}: {e}")))?),
            "where" => Selector::Where(value.to_owned()),
            other => {
                return Err(Error::Param(format!(
                    "selector {s:?}: unknown kind {other:?}; kinds: channel, author, platform, since, until, where"
                )));
            }
        })
    }

    fn kind(&self) -> u8 {
        match self {
            Selector::Channel(_) => 0,
            Selector::Author(_) => 1,
            Selector::Platform(_) => 2,
            Selector::Since(_) => 3,
            Selector::Until(_) => 4,
            Selector::Where(_) => 5,
            Selector::Expr { .. } => 6,
        }
    }

    /// The selector as an expression over the columns of `schema` (`messages`').
    fn expr(&self, ctx: &SessionContext, schema: &datafusion::common::DFSchema) -> Result<Expr> {
        let time =
            |t: &DateTime<Utc>| lit(ScalarValue::TimestampMicrosecond(Some(t.timestamp_micros()), Some("UTC".into())));
        Ok(match self {
            Selector::Channel(v) => col("channel_id").eq(lit(v.as_str())).or(col("channel_name").eq(lit(v.as_str()))),
            Selector::Author(v) => col("author_id").eq(lit(v.as_str())).or(crate::sql::account().eq(lit(v.as_str()))),
            Selector::Platform(v) => col("platform").eq(lit(v.to_lowercase())),
            Selector::Since(t) => col("ts").gt_eq(time(t)),
            Selector::Until(t) => col("ts").lt(time(t)),
            Selector::Where(sql) => ctx.parse_sql_expr(sql, schema)?,
            Selector::Expr { expr, .. } => expr.clone(),
        })
    }

    #[cfg(test)]
    fn sql(&self) -> String {
        match self {
            Selector::Channel(v) => format!("(channel_id = {q} OR channel_name = {q})", q = quote(v)),
            Selector::Author(v) => {
                format!("(author_id = {q} OR {} = {q})", crate::sql::ACCOUNT, q = quote(v))
            }
            Selector::Platform(v) => format!("platform = {}", quote(&v.to_lowercase())),
            Selector::Since(t) => format!("ts >= TIMESTAMP '{}'", t.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
            Selector::Until(t) => format!("ts < TIMESTAMP '{}'", t.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
            Selector::Where(sql) => format!("({sql})"),
            Selector::Expr { expr, .. } => format!("({expr})"),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Channel(v) => write!(f, "channel={v}"),
            Selector::Author(v) => write!(f, "author={v}"),
            Selector::Platform(v) => write!(f, "platform={v}"),
            Selector::Since(t) => write!(f, "since={}", t.to_rfc3339()),
            Selector::Until(t) => write!(f, "until<{}", t.to_rfc3339()),
            Selector::Where(sql) => write!(f, "where={sql}"),
            Selector::Expr { label, .. } => f.write_str(label),
        }
    }
}

/// `2024-03-01` (midnight in `zone`, UTC without one; for `until`, the next midnight so the day is included) or
/// RFC 3339.
fn parse_time(s: &str, until: bool, zone: Option<chrono_tz::Tz>) -> std::result::Result<DateTime<Utc>, String> {
    if let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let day = if until { day.succ_opt().ok_or("date out of range")? } else { day };
        return Ok(match zone {
            None => day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc(),
            Some(zone) => {
                DateTime::from_timestamp_micros(crate::zone::local_midnight(zone, day)).ok_or("date out of range")?
            }
        });
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| "expected a date like 2024-03-01 or a time like 2024-03-01T12:00:00Z".to_owned())
}

/// `s` as a SQL string literal (for the tests' SQL form of a selection).
#[cfg(test)]
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Selectors combined: AND across kinds, OR within a kind. Empty selects everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    selectors: Vec<Selector>,
}

impl Selection {
    /// A selection of these selectors.
    pub fn new(selectors: Vec<Selector>) -> Selection {
        Selection { selectors }
    }

    /// Parse each of `specs` as a selector.
    pub fn parse<S: AsRef<str>>(specs: &[S]) -> Result<Selection> {
        Selection::parse_in(specs, None)
    }

    /// Parse each of `specs` as a selector, dates alone being days in `zone`.
    pub fn parse_in<S: AsRef<str>>(specs: &[S], zone: Option<chrono_tz::Tz>) -> Result<Selection> {
        Ok(Selection::new(specs.iter().map(|s| Selector::parse_in(s.as_ref(), zone)).collect::<Result<_>>()?))
    }

    /// Whether no selector was given.
    pub fn is_empty(&self) -> bool {
        self.selectors.is_empty()
    }

    /// The selectors.
    pub fn selectors(&self) -> &[Selector] {
        &self.selectors
    }

    /// The SQL predicate (`TRUE` when empty), to check [`Selection::expr`] against.
    #[cfg(test)]
    fn sql(&self) -> String {
        if self.selectors.is_empty() {
            return "TRUE".to_owned();
        }
        let mut kinds: Vec<u8> = self.selectors.iter().map(Selector::kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let parts: Vec<String> = kinds
            .iter()
            .map(|&k| {
                let same: Vec<String> = self.selectors.iter().filter(|s| s.kind() == k).map(Selector::sql).collect();
                if same.len() == 1 { same[0].clone() } else { format!("({})", same.join(" OR ")) }
            })
            .collect();
        parts.join(" AND ")
    }

    /// The selection as one predicate over `messages` in `ctx` (`true` when empty): AND across kinds, OR within
    /// a kind.
    pub async fn expr(&self, ctx: &SessionContext) -> Result<Expr> {
        if self.selectors.is_empty() {
            return Ok(lit(true));
        }
        let schema = ctx.table("messages").await?.schema().clone();
        let mut kinds: Vec<u8> = self.selectors.iter().map(Selector::kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let mut all: Option<Expr> = None;
        for k in kinds {
            let mut any: Option<Expr> = None;
            for s in self.selectors.iter().filter(|s| s.kind() == k) {
                let e = s.expr(ctx, &schema)?;
                any = Some(match any {
                    Some(a) => a.or(e),
                    None => e,
                });
            }
            let any = any.expect("a kind has a selector");
            all = Some(match all {
                Some(a) => a.and(any),
                None => any,
            });
        }
        Ok(all.unwrap_or_else(|| lit(true)))
    }

    /// Register `name` in `ctx`: a view of the messages the selection holds (all of them when empty).
    pub async fn register(&self, ctx: &SessionContext, name: &str) -> Result<()> {
        let expr = self.expr(ctx).await?;
        let view = ctx.table("messages").await?.filter(expr)?.into_view();
        ctx.deregister_table(name)?;
        ctx.register_table(name, view)?;
        Ok(())
    }

    /// The number of messages the selection holds; an error naming the selection when it holds none, or when
    /// its `where=` is not valid.
    pub async fn count(&self, ctx: &SessionContext, role: &str) -> Result<u64> {
        let invalid = |e: Error| Error::Param(format!("the {role} selection ({self}) is not valid: {e}"));
        let expr = self.expr(ctx).await.map_err(invalid)?;
        let frame = ctx.table("messages").await?.filter(expr).map_err(|e| invalid(e.into()))?;
        let n = frame.count().await.map_err(|e| invalid(e.into()))? as u64;
        if n == 0 {
            return Err(Error::Empty { role: format!("{role} selection"), selection: self.to_string() });
        }
        Ok(n)
    }
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.selectors.is_empty() {
            return f.write_str("all messages");
        }
        let parts: Vec<String> = self.selectors.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind_and_rejects_the_rest() {
        assert_eq!(Selector::parse("channel=a=b").unwrap(), Selector::Channel("a=b".into()));
        assert_eq!(Selector::parse("platform=X").unwrap().sql(), "platform = 'x'");
        let since = Selector::parse("since=2024-03-01").unwrap();
        assert_eq!(since.sql(), "ts >= TIMESTAMP '2024-03-01T00:00:00.000000Z'");
        // A date alone includes its whole day.
        let until = Selector::parse("until=2024-03-01").unwrap();
        assert_eq!(until.sql(), "ts < TIMESTAMP '2024-03-02T00:00:00.000000Z'");
        let exact = Selector::parse("until=2024-03-01T12:30:00+01:00").unwrap();
        assert_eq!(exact.sql(), "ts < TIMESTAMP '2024-03-01T11:30:00.000000Z'");
        for bad in ["channel", "colour=red", "since=yesterday", "author="] {
            assert!(Selector::parse(bad).is_err(), "{bad}");
        }
        // A date is a day in the zone given: Tehran's March 1st starts at 20:30 UTC the day before.
        let tehran = crate::zone::parse("Asia/Tehran").ok();
        let since = Selector::parse_in("since=2024-03-01", tehran).unwrap();
        assert_eq!(since.sql(), "ts >= TIMESTAMP '2024-02-29T20:30:00.000000Z'");
        let until = Selector::parse_in("until=2024-03-01", tehran).unwrap();
        assert_eq!(until.sql(), "ts < TIMESTAMP '2024-03-01T20:30:00.000000Z'");
    }

    #[test]
    fn values_are_quoted_never_sql() {
        let s = Selector::parse("channel=x' OR '1'='1").unwrap();
        assert_eq!(s.sql(), "(channel_id = 'x'' OR ''1''=''1' OR channel_name = 'x'' OR ''1''=''1')");
    }

    #[test]
    fn and_across_kinds_or_within() {
        let sel = Selection::parse(&["channel=a", "since=2024-01-01", "channel=b"]).unwrap();
        assert_eq!(
            sel.sql(),
            "((channel_id = 'a' OR channel_name = 'a') OR (channel_id = 'b' OR channel_name = 'b')) AND \
             ts >= TIMESTAMP '2024-01-01T00:00:00.000000Z'"
        );
        assert_eq!(Selection::default().sql(), "TRUE");
    }

    /// The selector parser on any input: no panic; and a channel, author or platform value, however hostile
    /// (quotes, backslashes, comments, semicolons, control characters, any script), selects the row that has it
    /// and no other: a value is never read as SQL.
    mod any_value {
        use super::super::*;
        use proptest::prelude::*;
        use std::sync::Arc;

        fn table(values: &[String]) -> SessionContext {
            use datafusion::arrow::array::StringArray;
            use datafusion::arrow::datatypes::{DataType, Field, Schema};
            use datafusion::arrow::record_batch::RecordBatch;
            let schema = Arc::new(Schema::new(
                ["channel_id", "channel_name", "author_id", "platform"]
                    .map(|n| Field::new(n, DataType::Utf8, true))
                    .to_vec(),
            ));
            let column = || Arc::new(StringArray::from(values.to_vec())) as datafusion::arrow::array::ArrayRef;
            let batch = RecordBatch::try_new(schema.clone(), vec![column(), column(), column(), column()]).unwrap();
            let ctx = SessionContext::new();
            let mem = datafusion::datasource::MemTable::try_new(schema, vec![vec![batch]]).unwrap();
            ctx.register_table("messages", Arc::new(mem)).unwrap();
            ctx
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]
            #[test]
            fn parsing_never_panics(spec in "\\PC{0,40}") {
                let _ = Selector::parse(&spec);
                let _ = Selection::parse(&[spec.as_str(), "since=2024-01-01"]);
            }

            #[test]
            fn a_value_selects_its_row_and_no_other(
                value in "[a-z'\"\\\\;%_ \\-\\*/()=\u{0}-\u{1f}\u{202e}\u{200c}ی€]{1,24}",
                kind in prop::sample::select(vec!["channel", "author", "platform"]),
            ) {
                let value = value.trim().to_owned();
                prop_assume!(!value.is_empty());
                let wanted = if kind == "platform" { value.to_lowercase() } else { value.clone() };
                let rows = vec![wanted.clone(), format!("{wanted}x"), format!("x{wanted}"), "other".to_owned()];
                let selection = Selection::parse(&[format!("{kind}={value}")]).unwrap();
                let sql = format!("SELECT channel_id FROM messages WHERE {}", selection.sql());
                let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                let values = |batches: Vec<datafusion::arrow::record_batch::RecordBatch>| -> Vec<String> {
                    batches
                        .iter()
                        .flat_map(|b| {
                            let c = b.column(0).as_any().downcast_ref::<datafusion::arrow::array::StringArray>().unwrap();
                            (0..b.num_rows()).map(|i| c.value(i).to_owned()).collect::<Vec<_>>()
                        })
                        .collect()
                };
                // As SQL text, and as the expression the analyses read it through.
                let (found, through_expr) = rt.block_on(async {
                    let ctx = table(&rows);
                    let by_sql = values(ctx.sql(&sql).await.unwrap().collect().await.unwrap());
                    selection.register(&ctx, "selected").await.unwrap();
                    let by_expr = values(ctx.sql("SELECT channel_id FROM selected").await.unwrap().collect().await.unwrap());
                    (by_sql, by_expr)
                });
                let expected: Vec<String> = rows.iter().filter(|r| **r == wanted).cloned().collect();
                prop_assert_eq!(&found, &expected, "{}", sql);
                prop_assert_eq!(through_expr, expected);
            }
        }
    }
}
