//! Pseudonyms for shareable outputs: account ids replaced by a keyed hash.
//!
//! A pseudonym is `u-` and 16 hexadecimal digits of BLAKE3 in keyed mode over `platform:id`, with the store's
//! key ([`echolens_store::Store::pseudonym_key`]): the same account has the same pseudonym in every output made
//! from one store, accounts stay apart (64 bits: no collision in practice), and without the key no one can
//! test a guessed id against a pseudonym. Accounts are written `platform:u-…`, so scripts that split on the
//! platform keep working.
//!
//! A channel that is an account's own timeline (on X every channel is; anywhere, a channel whose every message
//! its own id wrote) is an account: its id and name become the account's pseudonym, in message keys too.
//! Other channels — Telegram channels and groups — keep their ids and names.

use std::collections::{BTreeMap, HashMap};

use datafusion::prelude::SessionContext;

use crate::Result;
use crate::coordination::Coordination;
use crate::reuse::Reuse;
use crate::table::{collect, strings};
use crate::vocabulary::diffusion::Diffusion;
use crate::vocabulary::timeline::Timeline;

/// Pseudonymises ids with a key.
#[derive(Debug, Clone)]
pub struct Pseudonyms {
    key: [u8; 32],
    /// Personal channels: `platform:channel_id` and `platform:channel_name` → `platform:u-…`.
    personal: HashMap<String, String>,
}

impl Pseudonyms {
    /// Pseudonyms with `key`, where `personal` lists the channels that are accounts' own timelines as
    /// (platform, channel id, channel name).
    pub fn new(key: [u8; 32], personal: impl IntoIterator<Item = (String, String, Option<String>)>) -> Pseudonyms {
        let mut p = Pseudonyms { key, personal: HashMap::new() };
        // In a fixed order: a name two personal channels share takes the pseudonym of the one with the least id,
        // whatever order they were read in; ids come first, so a name never hides an id.
        let mut personal: Vec<(String, String, Option<String>)> = personal.into_iter().collect();
        personal.sort();
        for (platform, id, _) in &personal {
            let pseudonym = format!("{platform}:{}", p.id(platform, id));
            p.personal.insert(format!("{platform}:{id}"), pseudonym);
        }
        for (platform, id, name) in personal {
            if let Some(name) = name.filter(|n| !n.is_empty()) {
                let pseudonym = p.personal[&format!("{platform}:{id}")].clone();
                p.personal.entry(format!("{platform}:{name}")).or_insert(pseudonym);
            }
        }
        p
    }

    /// Pseudonyms with `key` for the channels of the `messages` table in `ctx`.
    pub async fn load(ctx: &SessionContext, key: [u8; 32]) -> Result<Pseudonyms> {
        // Every name a personal channel had (an account renamed is one channel under several names).
        let sql = "SELECT m.platform, m.channel_id, m.channel_name FROM messages m \
                   JOIN (SELECT platform, channel_id FROM messages GROUP BY platform, channel_id \
                         HAVING bool_and(author_id IS NOT NULL AND author_id = channel_id)) p \
                   ON m.platform = p.platform AND m.channel_id = p.channel_id \
                   GROUP BY m.platform, m.channel_id, m.channel_name";
        let mut personal = Vec::new();
        for batch in collect(ctx, sql).await? {
            let platform = strings(&batch, "platform")?;
            let id = strings(&batch, "channel_id")?;
            let name = strings(&batch, "channel_name")?;
            for i in 0..batch.num_rows() {
                let name = (!name.is_null(i)).then(|| name.value(i).to_owned());
                personal.push((platform.value(i).to_owned(), id.value(i).to_owned(), name));
            }
        }
        Ok(Pseudonyms::new(key, personal))
    }

    /// Personal channels known (each counted once).
    pub fn personal_channels(&self) -> usize {
        let mut values: Vec<&String> = self.personal.values().collect();
        values.sort_unstable();
        values.dedup();
        values.len()
    }

    /// The pseudonym of `id` on `platform`: `u-` and 16 hexadecimal digits.
    pub fn id(&self, platform: &str, id: &str) -> String {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(platform.as_bytes());
        h.update(b":");
        h.update(id.as_bytes());
        let bytes = h.finalize();
        let mut out = String::with_capacity(18);
        out.push_str("u-");
        for b in &bytes.as_bytes()[..8] {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// An account written `platform:id` as `platform:u-…`.
    pub fn account(&self, account: &str) -> String {
        match account.split_once(':') {
            Some((platform, id)) => format!("{platform}:{}", self.id(platform, id)),
            None => self.id("", account),
        }
    }

    /// A channel written `platform:id` or `platform:name`: the account's pseudonym if it is a personal
    /// channel, else unchanged.
    pub fn channel(&self, channel: &str) -> String {
        self.personal.get(channel).cloned().unwrap_or_else(|| channel.to_owned())
    }

    /// The id of a channel (its pseudonym if personal).
    pub fn channel_id(&self, platform: &str, id: &str) -> String {
        match self.personal.get(&format!("{platform}:{id}")) {
            Some(p) => p[platform.len() + 1..].to_owned(),
            None => id.to_owned(),
        }
    }

    /// The name of a channel (its pseudonym if personal).
    pub fn channel_name(&self, platform: &str, id: &str, name: &str) -> String {
        match self.personal.get(&format!("{platform}:{id}")) {
            Some(p) => p[platform.len() + 1..].to_owned(),
            None => name.to_owned(),
        }
    }

    /// A message key `platform:channel_id:message_id` with the channel pseudonymised if personal. A message
    /// id may hold `:` itself, so every split is tried, the shortest channel first.
    pub fn key(&self, key: &str) -> String {
        let Some((platform, rest)) = key.split_once(':') else { return key.to_owned() };
        for (at, _) in rest.match_indices(':') {
            let (channel, message) = (&rest[..at], &rest[at + 1..]);
            if let Some(p) = self.personal.get(&format!("{platform}:{channel}")) {
                return format!("{p}:{message}");
            }
        }
        key.to_owned()
    }

    /// Pseudonymise a coordination result: accounts, evidence keys, personal channels.
    pub fn coordination(&self, c: &mut Coordination) {
        let mut memo: HashMap<String, String> = HashMap::new();
        let mut account = |a: &mut String| {
            let p = memo.entry(std::mem::take(a)).or_insert_with_key(|a| self.account(a));
            *a = p.clone();
        };
        for e in &mut c.edges {
            account(&mut e.a);
            account(&mut e.b);
            for (x, y) in &mut e.evidence {
                *x = self.key(x);
                *y = self.key(y);
            }
        }
        for a in &mut c.network.accounts {
            account(a);
        }
        c.channels = std::mem::take(&mut c.channels)
            .into_iter()
            .map(|(mut a, channels)| {
                account(&mut a);
                let channels: BTreeMap<String, u64> =
                    channels.into_iter().map(|(ch, n)| (self.channel(&ch), n)).collect();
                (a, channels)
            })
            .collect();
        c.domains = std::mem::take(&mut c.domains)
            .into_iter()
            .map(|(mut a, domains)| {
                account(&mut a);
                (a, domains)
            })
            .collect();
        c.accounts = std::mem::take(&mut c.accounts)
            .into_iter()
            .map(|(mut a, facts)| {
                account(&mut a);
                (a, facts)
            })
            .collect();
        for d in &mut c.channel_domains {
            d.channel = self.channel(&d.channel);
        }
    }

    /// Pseudonymise a reuse result: authors, keys, personal channels.
    pub fn reuse(&self, r: &mut Reuse) {
        for m in &mut r.members {
            if let Some(a) = &m.author_id {
                m.author_id = Some(self.id(&m.platform, a));
            }
            m.key = self.key(&m.key);
            m.parent_key = m.parent_key.as_deref().map(|k| self.key(k));
            if let Some(name) = &m.channel_name {
                m.channel_name = Some(self.channel_name(&m.platform, &m.channel_id, name));
            }
            m.channel_id = self.channel_id(&m.platform, &m.channel_id);
        }
        for b in &mut r.boilerplate {
            b.channel = self.channel(&b.channel);
        }
    }

    /// Pseudonymise a diffusion result: personal channels and keys.
    pub fn diffusion(&self, d: &mut Diffusion) {
        let mut names: HashMap<String, String> = HashMap::new();
        for a in &mut d.channels {
            let name = self.channel_name(&a.platform, &a.channel_id, &a.channel_name);
            names.insert(std::mem::replace(&mut a.channel_name, name.clone()), name);
            let id = self.channel_id(&a.platform, &a.channel_id);
            names.insert(std::mem::replace(&mut a.channel_id, id.clone()), id);
            a.first_key = a.first_key.as_deref().map(|k| self.key(k));
        }
        for t in &mut d.term_adoption {
            t.first_key = self.key(&t.first_key);
        }
        for s in &mut d.summary {
            for source in &mut s.sources {
                if let Some(n) = names.get(source) {
                    *source = n.clone();
                }
            }
            s.source_key = s.source_key.as_deref().map(|k| self.key(k));
        }
    }

    /// Pseudonymise keyness by group: channel groups that are accounts' own timelines.
    pub fn keyness_by(&self, k: &mut crate::vocabulary::keyness_by::KeynessBy) {
        if k.by == crate::vocabulary::keyness_by::By::Channel {
            for t in &mut k.terms {
                t.group = self.channel(&t.group);
            }
        }
    }

    /// Pseudonymise a timeline: series that are accounts' own timelines.
    pub fn timeline(&self, t: &mut Timeline) {
        for row in &mut t.rows {
            let pseudonym = self.channel(&row.group);
            if pseudonym != row.group {
                row.name = pseudonym[pseudonym.find(':').map_or(0, |i| i + 1)..].to_owned();
                row.group = pseudonym;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudonyms(key: u8) -> Pseudonyms {
        Pseudonyms::new([key; 32], [("x".to_owned(), "42".to_owned(), Some("troll_42".to_owned()))])
    }

    #[test]
    fn a_pseudonym_depends_on_the_key_the_platform_and_the_id() {
        let p = pseudonyms(1);
        let a = p.id("x", "42");
        assert!(a.starts_with("u-") && a.len() == 18 && a[2..].chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_eq!(p.id("x", "42"), a, "stable");
        assert_ne!(p.id("x", "43"), a);
        assert_ne!(p.id("telegram", "42"), a, "the same id on two platforms is two accounts");
        assert_ne!(pseudonyms(2).id("x", "42"), a, "another key, another pseudonym");
        assert_eq!(p.account("x:42"), format!("x:{a}"));
    }

    #[test]
    fn a_message_id_with_colons_does_not_keep_a_personal_channel_in_its_key() {
        let p = Pseudonyms::new([1; 32], [("x".to_owned(), "42".to_owned(), Some("alice".to_owned()))]);
        let pseudonym = p.id("x", "42");
        assert_eq!(p.key("x:42:7"), format!("x:{pseudonym}:7"));
        assert_eq!(p.key("x:42:7:reply:9"), format!("x:{pseudonym}:7:reply:9"));
        assert_eq!(p.key("telegram:news:7:1"), "telegram:news:7:1", "a public channel stays");
    }

    #[tokio::test]
    async fn every_name_of_a_renamed_account_maps_to_its_pseudonym() {
        use arrow::array::StringArray;
        use arrow::datatypes::{DataType, Field, Schema};
        let ctx = SessionContext::new();
        // One X account under two screen names, and a public Telegram channel.
        let column = |v: [&str; 3]| -> arrow::array::ArrayRef { std::sync::Arc::new(StringArray::from(v.to_vec())) };
        let schema = Schema::new(
            ["platform", "channel_id", "channel_name", "author_id"]
                .map(|n| Field::new(n, DataType::Utf8, true))
                .to_vec(),
        );
        let batch = arrow::record_batch::RecordBatch::try_new(
            std::sync::Arc::new(schema),
            vec![
                column(["x", "x", "telegram"]),
                column(["42", "42", "news"]),
                column(["alice", "alice_renamed", "News"]),
                column(["42", "42", "7"]),
            ],
        )
        .unwrap();
        ctx.register_batch("messages", batch).unwrap();
        let p = Pseudonyms::load(&ctx, [1; 32]).await.unwrap();
        let pseudonym = format!("x:{}", p.id("x", "42"));
        assert_eq!(p.channel("x:alice"), pseudonym);
        assert_eq!(p.channel("x:alice_renamed"), pseudonym);
        assert_eq!(p.channel("telegram:News"), "telegram:News");
    }

    #[test]
    fn personal_channels_become_their_accounts_pseudonym_public_ones_stay() {
        let p = pseudonyms(1);
        let a = p.id("x", "42");
        assert_eq!(p.channel_id("x", "42"), a);
        assert_eq!(p.channel_name("x", "42", "troll_42"), a);
        assert_eq!(p.channel("x:troll_42"), format!("x:{a}"), "a personal channel by name");
        assert_eq!(p.key("x:42:1001"), format!("x:{a}:1001"));
        assert_eq!(p.channel_id("telegram", "777"), "777");
        assert_eq!(p.channel_name("telegram", "777", "news"), "news");
        assert_eq!(p.key("telegram:777:5"), "telegram:777:5");
        assert_eq!(p.channel("telegram:news"), "telegram:news");
        assert_eq!(p.personal_channels(), 1);
    }

    #[test]
    fn a_reuse_result_keeps_its_links_under_pseudonyms() {
        use crate::reuse::{Member, Params, Role};
        let p = pseudonyms(1);
        let a = p.id("x", "42");
        let member =
            |key: &str, platform: &str, channel: &str, name: &str, author: &str, parent: Option<&str>| Member {
                cascade: 1,
                key: key.into(),
                platform: platform.into(),
                channel_id: channel.into(),
                channel_name: Some(name.into()),
                author_id: Some(author.into()),
                ts: 0,
                role: if parent.is_some() { Role::Copy } else { Role::Origin },
                parent_key: parent.map(str::to_owned),
                similarity: None,
                text: None,
            };
        let mut r = Reuse {
            params: Params::default(),
            members: vec![
                member("x:42:1", "x", "42", "troll_42", "42", None),
                member("telegram:777:5", "telegram", "777", "news", "9", Some("x:42:1")),
            ],
            counts: Default::default(),
            boilerplate: Vec::new(),
        };
        p.reuse(&mut r);
        let (origin, copy) = (&r.members[0], &r.members[1]);
        assert_eq!((origin.key.as_str(), origin.channel_id.as_str()), (format!("x:{a}:1").as_str(), a.as_str()));
        assert_eq!(origin.channel_name.as_deref(), Some(a.as_str()));
        assert_eq!(origin.author_id.as_deref(), Some(a.as_str()), "the timeline's pseudonym is its account's");
        assert_eq!(copy.parent_key.as_deref(), Some(origin.key.as_str()), "the link survives");
        assert_eq!((copy.key.as_str(), copy.channel_name.as_deref()), ("telegram:777:5", Some("news")));
        assert_eq!(copy.author_id, Some(p.id("telegram", "9")));
    }
}
