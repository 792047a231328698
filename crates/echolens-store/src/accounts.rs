//! The `accounts` table: what the exports say about the accounts behind the messages, one row per account and
//! file it was read from. Its key is (platform, author_id, source_file): a file imported again adds nothing, and
//! a run killed before this table's commit writes it the next time, whatever the messages table holds.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Int64Builder, ListBuilder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use echolens_model::AccountSeen;

/// The `accounts` table schema.
pub fn account_schema() -> SchemaRef {
    let ts = |name: &str| Field::new(name, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true);
    Arc::new(Schema::new(vec![
        Field::new("platform", DataType::Utf8, false),
        Field::new("author_id", DataType::Utf8, false),
        Field::new("source_file", DataType::Utf8, false),
        Field::new("observations", DataType::Int64, false),
        ts("first_seen"),
        ts("last_seen"),
        ts("created"),
        Field::new("followers", DataType::Int64, true),
        Field::new("following", DataType::Int64, true),
        Field::new("location", DataType::Utf8, true),
        Field::new("language", DataType::Utf8, true),
        Field::new("clients", DataType::List(Arc::new(Field::new("element", DataType::Utf8, true))), true),
    ]))
}

/// The key of an account's row.
pub(crate) type AccountKey = (String, String, String);

/// One account's observations from one file, folded: the latest observation's counts and profile, the earliest
/// creation date stated, the clients by use.
#[derive(Debug, Default)]
pub(crate) struct Folded {
    observations: i64,
    first: Option<i64>,
    last: Option<i64>,
    /// The time of the observation the counts and profile are from (`None` sorts first).
    latest: Option<Option<i64>>,
    created: Option<i64>,
    followers: Option<i64>,
    following: Option<i64>,
    location: Option<String>,
    language: Option<String>,
    clients: HashMap<String, u64>,
}

impl Folded {
    pub(crate) fn add(&mut self, seen: AccountSeen) {
        self.observations += 1;
        if let Some(at) = seen.at {
            self.first = Some(self.first.map_or(at, |f| f.min(at)));
            self.last = Some(self.last.map_or(at, |l| l.max(at)));
        }
        if let Some(created) = seen.created {
            self.created = Some(self.created.map_or(created, |c| c.min(created)));
        }
        if let Some(client) = seen.client {
            *self.clients.entry(client).or_default() += 1;
        }
        if self.latest.is_none_or(|latest| seen.at >= latest) {
            self.latest = Some(seen.at);
            self.followers = seen.followers.or(self.followers);
            self.following = seen.following.or(self.following);
            self.location = seen.location.or(self.location.take());
            self.language = seen.language.or(self.language.take());
        }
    }
}

/// The folded accounts as one record batch of [`account_schema`], in key order.
pub(crate) fn to_batch(folded: HashMap<AccountKey, Folded>) -> arrow::error::Result<RecordBatch> {
    let mut rows: Vec<(AccountKey, Folded)> = folded.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let n = rows.len();
    let (mut platform, mut author, mut file) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let mut observations = Int64Builder::with_capacity(n);
    let ts = || TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let (mut first, mut last, mut created) = (ts(), ts(), ts());
    let (mut followers, mut following) = (Int64Builder::with_capacity(n), Int64Builder::with_capacity(n));
    let (mut location, mut language) = (StringBuilder::new(), StringBuilder::new());
    let mut clients =
        ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new("element", DataType::Utf8, true)));
    for ((p, a, f), row) in rows {
        platform.append_value(p);
        author.append_value(a);
        file.append_value(f);
        observations.append_value(row.observations);
        first.append_option(row.first);
        last.append_option(row.last);
        created.append_option(row.created);
        followers.append_option(row.followers);
        following.append_option(row.following);
        location.append_option(row.location);
        language.append_option(row.language);
        // Most used first, ties by name.
        let mut used: Vec<(String, u64)> = row.clients.into_iter().collect();
        used.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
        for (name, _) in used {
            clients.values().append_value(name);
        }
        clients.append(true);
    }
    RecordBatch::try_new(
        account_schema(),
        vec![
            Arc::new(platform.finish()),
            Arc::new(author.finish()),
            Arc::new(file.finish()),
            Arc::new(observations.finish()),
            Arc::new(first.finish()),
            Arc::new(last.finish()),
            Arc::new(created.finish()),
            Arc::new(followers.finish()),
            Arc::new(following.finish()),
            Arc::new(location.finish()),
            Arc::new(language.finish()),
            Arc::new(clients.finish()),
        ],
    )
}

/// What the writer holds of the accounts: the keys stored, and the new accounts folded.
#[derive(Debug, Default)]
pub(crate) struct AccountBuffer {
    pub(crate) known: HashSet<AccountKey>,
    pub(crate) pending: HashMap<AccountKey, Folded>,
}

impl AccountBuffer {
    /// Folds `seen` in, unless its account and file are stored already.
    pub(crate) fn add(&mut self, seen: AccountSeen) {
        let key = (seen.platform.clone(), seen.author_id.clone(), seen.source_file.clone());
        if self.known.contains(&key) {
            return;
        }
        self.pending.entry(key).or_default().add(seen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(at: Option<i64>, followers: Option<i64>, client: Option<&str>) -> AccountSeen {
        AccountSeen {
            platform: "x".into(),
            author_id: "7".into(),
            at,
            created: at.map(|_| 1_000),
            followers,
            client: client.map(str::to_owned),
            source_file: "f.csv".into(),
            ..AccountSeen::default()
        }
    }

    #[test]
    fn the_latest_observation_gives_the_counts_and_clients_come_by_use() {
        let mut buffer = AccountBuffer::default();
        buffer.add(seen(Some(30), Some(300), Some("TweetDeck")));
        buffer.add(seen(Some(10), Some(100), Some("Twitter Web App")));
        buffer.add(seen(Some(20), None, Some("TweetDeck")));
        buffer.add(seen(None, Some(5), None));
        let batch = to_batch(std::mem::take(&mut buffer.pending)).unwrap();
        assert_eq!(batch.num_rows(), 1);
        let int = |name: &str| {
            batch.column_by_name(name).unwrap().as_any().downcast_ref::<arrow::array::Int64Array>().unwrap().value(0)
        };
        assert_eq!(int("observations"), 4);
        assert_eq!(int("followers"), 300, "the observation at 30 is the latest");
        let clients = batch.column_by_name("clients").unwrap();
        let clients = clients.as_any().downcast_ref::<arrow::array::ListArray>().unwrap().value(0);
        let clients = clients.as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
        assert_eq!(clients.iter().flatten().collect::<Vec<_>>(), ["TweetDeck", "Twitter Web App"]);
        // Stored already: nothing more is folded.
        buffer.known.insert(("x".into(), "7".into(), "f.csv".into()));
        buffer.add(seen(Some(40), Some(1), None));
        assert!(buffer.pending.is_empty());
    }
}
