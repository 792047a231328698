//! Coordination on small hand-built corpora: one test per rule.

use std::sync::Arc;

use datafusion::datasource::MemTable;
use echolens_model::Message;

use super::*;
use crate::analysis_session;

const S: i64 = 1_000_000;
const T0: i64 = 1_700_000_000 * S;

#[derive(Clone)]
struct M {
    platform: &'static str,
    author: Option<&'static str>,
    id: String,
    ts: i64,
    text: String,
    urls: Vec<&'static str>,
    hashtags: Vec<&'static str>,
    repost_of: Option<&'static str>,
    forwarded_from: Option<&'static str>,
    reply_to: Option<&'static str>,
    quote_of: Option<&'static str>,
    channel: &'static str,
}

fn m(author: &'static str, id: impl ToString, secs: i64, text: &str) -> M {
    M {
        platform: "x",
        author: Some(author),
        id: id.to_string(),
        ts: T0 + secs * S,
        text: text.to_owned(),
        urls: vec![],
        hashtags: vec![],
        repost_of: None,
        forwarded_from: None,
        reply_to: None,
        quote_of: None,
        channel: author,
    }
}

fn to_message(x: &M) -> Message {
    Message {
        platform: x.platform.to_owned(),
        channel_id: x.channel.to_owned(),
        channel_name: None,
        message_id: x.id.clone(),
        author_id: x.author.map(str::to_owned),
        author_name: None,
        ts: x.ts,
        ts_exact: true,
        edited: None,
        text: x.text.clone(),
        text_norm: echolens_text::normalize(&x.text),
        urls: x.urls.iter().map(|u| (*u).to_owned()).collect(),
        hashtags: x.hashtags.iter().map(|u| (*u).to_owned()).collect(),
        mentions: vec![],
        forwarded_from: x.forwarded_from.map(str::to_owned),
        reply_to: x.reply_to.map(str::to_owned),
        repost_of: x.repost_of.map(str::to_owned),
        source_file: "test".into(),
        source_record: 1,
        quote_of: x.quote_of.map(str::to_owned),
        collected_at: None,
        signature: None,
        via_bot: None,
        engagement: Default::default(),
    }
}

/// A session with `messages` as its `messages` table.
fn session_with(messages: &[M]) -> SessionContext {
    let ctx = analysis_session(1 << 30).unwrap();
    let rows: Vec<Message> = messages.iter().map(to_message).collect();
    let batch = echolens_store::messages_to_batch(rows.iter()).unwrap();
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]]).unwrap();
    ctx.register_table("messages", Arc::new(table)).unwrap();
    ctx
}

/// A session of `memory` bytes over `messages` in two partitions, as a real scan gives, so partial aggregates
/// are merged.
fn session_in_two(messages: &[M], memory: usize) -> SessionContext {
    let ctx = analysis_session(memory).unwrap();
    let rows: Vec<Message> = messages.iter().map(to_message).collect();
    let batch = echolens_store::messages_to_batch(rows.iter()).unwrap();
    let half = batch.num_rows() / 2;
    let parts = vec![vec![batch.slice(0, half)], vec![batch.slice(half, batch.num_rows() - half)]];
    ctx.register_table("messages", Arc::new(MemTable::try_new(batch.schema(), parts).unwrap())).unwrap();
    ctx
}

async fn run_on(messages: &[M], params: Params) -> Coordination {
    run(&session_with(messages), params).await.unwrap()
}

fn only(kinds: &[Kind]) -> Params {
    Params { kinds: kinds.to_vec(), ..Params::default() }
}

/// Every edge of `c`, whole.
fn all_edges(c: &Coordination) -> Vec<Edge> {
    c.edges.to_vec().unwrap()
}

fn edge_set(c: &Coordination) -> Vec<(Kind, String, String, u64)> {
    all_edges(c).into_iter().map(|e| (e.kind, e.a.to_string(), e.b.to_string(), e.weight)).collect()
}

const TEXT1: &str = "the election was stolen by them all";
const TEXT2: &str = "share this video before it gets deleted";
const TEXT3: &str = "our leader will never give up the fight";

#[tokio::test]
async fn text_edges_count_distinct_shared_texts_within_window() {
    let msgs = vec![
        m("1", 1, 0, TEXT1),
        m("2", 2, 10, TEXT1),
        m("1", 3, 1000, TEXT2),
        m("2", 4, 1030, TEXT2),
        // The same text again: still one key.
        m("1", 5, 2000, TEXT2),
        m("2", 6, 2001, TEXT2),
        // Account 3 shares only one text in time, another too late.
        m("3", 7, 5, TEXT1),
        m("3", 8, 1200, TEXT2),
    ];
    // Weight counting alone: account 3's TEXT2 200 s after the others' would make that key loose (see
    // `a_trickling_crowd_counts_its_tightness_and_a_burst_counts_whole`).
    let c = run_on(&msgs, Params { horizon: 0, ..only(&[Kind::Text]) }).await;
    assert_eq!(
        edge_set(&c),
        [(Kind::Text, "x:1".into(), "x:2".into(), 2)],
        "1-2 share two texts; 3 shares one with each (below min weight)"
    );
    let e = &all_edges(&c)[0];
    assert_eq!(e.first_seen, T0);
    assert_eq!(e.last_seen, T0 + 2001 * S);
    assert_eq!((&*e.evidence[0].0, &*e.evidence[0].1), ("x:1:1", "x:2:2"));
    assert_eq!(e.evidence.len(), 2, "one pair per shared key");
    assert_eq!(c.left_out.pairs_below_min_weight.get("text"), Some(&2));
    // Clusters and labels.
    assert_eq!(c.network.accounts, ["x:1", "x:2"]);
    assert_eq!(c.network.clusters.len(), 1);
    assert!(c.labels.values().any(|l| l == TEXT1));
}

#[tokio::test]
async fn edges_name_accounts_in_name_order_whatever_their_hashes() {
    // The plans order a pair by account hash; the edges must still be (a < b by name) with a's message first.
    const NAMES: [&str; 12] = ["01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12"];
    let mut msgs = Vec::new();
    for (i, pair) in NAMES.chunks(2).enumerate() {
        let t = i as i64 * 10_000;
        for (j, text) in [TEXT1, TEXT2].into_iter().enumerate() {
            let text = format!("{text} {i}");
            msgs.push(m(pair[0], format!("{i}{j}0"), t + j as i64 * 100, &text));
            msgs.push(m(pair[1], format!("{i}{j}1"), t + j as i64 * 100 + 5, &text));
        }
    }
    let swapped = NAMES
        .chunks(2)
        .filter(|p| crate::udf::hash64(&format!("x:{}", p[0])) > crate::udf::hash64(&format!("x:{}", p[1])))
        .count();
    assert!(swapped > 0 && swapped < 6, "the corpus has pairs in both hash orders ({swapped} of 6 swapped)");
    let c = run_on(&msgs, only(&[Kind::Text])).await;
    assert_eq!(c.edges.len(), 6);
    for (e, pair) in all_edges(&c).into_iter().zip(NAMES.chunks(2)) {
        assert_eq!((&*e.a, &*e.b), (format!("x:{}", pair[0]).as_str(), format!("x:{}", pair[1]).as_str()));
        assert_eq!(e.weight, 2);
        for (ka, kb) in &e.evidence {
            // A message key is platform:channel:id, and each account posts in its own channel.
            assert!(ka.starts_with(&format!("{}:", e.a)), "{ka} is a's message ({})", e.a);
            assert!(kb.starts_with(&format!("{}:", e.b)), "{kb} is b's message ({})", e.b);
        }
    }
}

#[tokio::test]
async fn window_edge_exactly_at_and_just_past() {
    let at = vec![m("1", 1, 0, TEXT1), m("2", 2, 60, TEXT1), m("1", 3, 500, TEXT2), m("2", 4, 560, TEXT2)];
    let c = run_on(&at, only(&[Kind::Text])).await;
    assert_eq!(edge_set(&c), [(Kind::Text, "x:1".into(), "x:2".into(), 2)], "exactly 60 s apart is inside");

    let mut past = at.clone();
    past[1].ts += 1; // 60.000001 s
    let c = run_on(&past, only(&[Kind::Text])).await;
    assert!(c.edges.is_empty(), "just past the window: only one key left, below min weight");

    // Sliding, not binned: 59 s -> 61 s across a minute boundary still pairs.
    let across = vec![m("1", 1, 59, TEXT1), m("2", 2, 61, TEXT1), m("1", 3, 119, TEXT2), m("2", 4, 121, TEXT2)];
    let c = run_on(&across, only(&[Kind::Text])).await;
    assert_eq!(c.edges.len(), 1);
}

#[tokio::test]
async fn min_weight_and_min_tokens() {
    let msgs = vec![m("1", 1, 0, TEXT1), m("2", 2, 1, TEXT1), m("1", 3, 100, "ok thanks"), m("2", 4, 101, "ok thanks")];
    let c = run_on(&msgs, only(&[Kind::Text])).await;
    assert!(c.edges.is_empty(), "the short text does not count");
    assert_eq!(c.left_out.short_texts, 2);
    // With `similar`, its kernel counts them as it reads the texts: the same count, once.
    for kinds in [&[Kind::Similar][..], &[Kind::Text, Kind::Similar]] {
        assert_eq!(run_on(&msgs, only(kinds)).await.left_out.short_texts, 2, "{kinds:?}");
        assert_eq!(run_on(&msgs, Params { min_tokens: 2, ..only(kinds) }).await.left_out.short_texts, 0);
    }
    let c = run_on(&msgs, Params { min_tokens: 2, ..only(&[Kind::Text]) }).await;
    assert_eq!(c.edges.len(), 1);
    let c = run_on(&msgs, Params { min_weight: 1, ..only(&[Kind::Text]) }).await;
    assert_eq!(edge_set(&c), [(Kind::Text, "x:1".into(), "x:2".into(), 1)]);
}

#[tokio::test]
async fn max_key_accounts_leaves_viral_keys_out_and_counts_them() {
    let mut msgs = Vec::new();
    // Five accounts post a greeting within seconds; 1 and 2 also share two texts.
    for (i, a) in ["1", "2", "3", "4", "5"].into_iter().enumerate() {
        let mut x = m(a, 100 + i, i as i64, "");
        x.urls = vec!["https://viral.example/"];
        msgs.push(x);
    }
    let mut a = m("1", 1, 1000, "");
    a.urls = vec!["https://a.example/1"];
    let mut b = m("2", 2, 1001, "");
    b.urls = vec!["https://a.example/1"];
    msgs.extend([a, b]);
    let c = run_on(&msgs, Params { max_key_accounts: 4, ..only(&[Kind::Link]) }).await;
    assert!(c.edges.is_empty(), "the viral link is left out, so 1-2 share one key only");
    assert_eq!(c.left_out.over_max_keys.get("link"), Some(&1));
    assert_eq!(c.left_out.over_max_actions.get("link"), Some(&5));
    assert_eq!(c.left_out.top_over_max[0], ("link".into(), "https://viral.example/".into(), 5));
    let c = run_on(&msgs, Params { max_key_accounts: 5, ..only(&[Kind::Link]) }).await;
    assert_eq!(edge_set(&c), [(Kind::Link, "x:1".into(), "x:2".into(), 2)]);
    let c = run_on(&msgs, Params { max_key_accounts: 5, min_weight: 1, ..only(&[Kind::Link]) }).await;
    assert_eq!(c.edges.len(), 10, "all pairs of five accounts share the viral link");
}

/// A crowd: eight accounts repost the same two popular posts within seconds of each other; two of them also
/// share two links no one else shares. With keys of more than `crowd_size` accounts counting
/// `crowd_size / accounts`, the crowd's pairs fall below `min_weight` and the pair with specific keys stays.
#[tokio::test]
async fn crowd_sized_keys_count_less_than_one() {
    const CROWD: [&str; 8] = ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"];
    let mut msgs = Vec::new();
    for (post, original) in ["p1", "p2"].into_iter().enumerate() {
        for (i, a) in CROWD.into_iter().enumerate() {
            let mut x = m(a, format!("{post}{i}"), post as i64 * 3600 + i as i64, "RT");
            x.repost_of = Some(original);
            msgs.push(x);
        }
    }
    for (k, url) in ["https://a.example/1", "https://a.example/2"].into_iter().enumerate() {
        for (j, a) in ["c1", "c2"].into_iter().enumerate() {
            let mut x = m(a, format!("l{k}{j}"), 10_000 + k as i64 * 600 + j as i64, "");
            x.urls = vec![url];
            msgs.push(x);
        }
    }
    let kinds = [Kind::Repost, Kind::Link];
    let every_key = run_on(&msgs, Params { crowd_size: 0, ..only(&kinds) }).await;
    assert_eq!(all_edges(&every_key).into_iter().filter(|e| e.kind == Kind::Repost).count(), 28, "all pairs of eight");
    let c = run_on(&msgs, Params { crowd_size: 4, ..only(&kinds) }).await;
    // Each popular post counts 4/8: the crowd's pairs reach 1.0, under 2.
    assert_eq!(edge_set(&c), [(Kind::Link, "x:c1".into(), "x:c2".into(), 2)]);
    assert_eq!(all_edges(&c)[0].specificity, 2.0);
    assert_eq!(c.left_out.crowd_sized_keys.get("repost"), Some(&2));
    assert_eq!(c.left_out.pairs_below_min_weight.get("repost"), Some(&28));
    // Four crowd-sized keys of 4/8 reach 2.0: a crowd that acts together again and again is an edge again.
    let mut more = msgs.clone();
    for (post, original) in ["p3", "p4"].into_iter().enumerate() {
        for (i, a) in CROWD.into_iter().enumerate() {
            let mut x = m(a, format!("q{post}{i}"), 20_000 + post as i64 * 3600 + i as i64, "RT");
            x.repost_of = Some(original);
            more.push(x);
        }
    }
    let c = run_on(&more, Params { crowd_size: 4, ..only(&kinds) }).await;
    let repost: Vec<Edge> = all_edges(&c).into_iter().filter(|e| e.kind == Kind::Repost).collect();
    assert_eq!(repost.len(), 28);
    assert!(repost.iter().all(|e| e.weight == 4 && (e.specificity - 2.0).abs() < 1e-9));
}

/// Who came first on each shared key: account 1 leads on two texts (10 s), 2 on one (5 s), one is a tie; the
/// edge, the account totals and the cluster summary say so.
#[tokio::test]
async fn edges_say_who_came_first() {
    let texts = [TEXT1, TEXT2, TEXT3, "a fourth text that both of them posted"];
    let times = [(0, 10), (100, 110), (205, 200), (300, 300)];
    let mut msgs = Vec::new();
    for (k, (text, (t1, t2))) in texts.iter().zip(times).enumerate() {
        msgs.push(m("1", format!("a{k}"), t1, text));
        msgs.push(m("2", format!("b{k}"), t2, text));
    }
    let c = run_on(&msgs, only(&[Kind::Text, Kind::Similar])).await;
    let text = all_edges(&c).into_iter().find(|e| e.kind == Kind::Text).unwrap();
    assert_eq!((&*text.a, &*text.b), ("x:1", "x:2"));
    assert_eq!((text.lead.a_first, text.lead.b_first, text.lead.ties, text.lead.median_lag_s), (2, 1, 1, Some(7.5)));
    assert!((text.lead.lag_shares - 25.0 / 60.0).abs() < 1e-12, "lags 10, 5, 10 and 0 s of a 60 s window");
    let similar = all_edges(&c).into_iter().find(|e| e.kind == Kind::Similar).unwrap();
    assert_eq!((similar.lead.a_first, similar.lead.b_first, similar.lead.ties), (2, 1, 1));
    let leads = account_leads(&c).unwrap();
    assert_eq!(leads["x:1"], (4, 2));
    assert_eq!(leads["x:2"], (2, 4));
    let summaries = cluster_summaries(&c).unwrap();
    assert_eq!(summaries[0].leaders, "x:1 (first on 4 keys, second on 2)");
    // Each key's span is a spell of the edge, for Gephi's timeline.
    let at = |secs: i64| T0 + secs * S;
    assert_eq!(text.spells, [(at(0), at(10)), (at(100), at(110)), (at(200), at(205)), (at(300), at(300))]);
    let network = output::NetworkEdges::new(&c).unwrap();
    assert_eq!(crate::graph::Edges::count(&network), 1);
    let mut spells = Vec::new();
    crate::graph::Edges::spells(&network, 0, &mut spells).unwrap();
    assert_eq!(spells, text.spells, "the text and similar spells, merged");
    // Pseudonyms need not keep an edge's smaller account first: its spells are still its pair's.
    let mut renamed = c.clone();
    renamed.edges.rename_accounts(|a| if &**a == "x:1" { Arc::from("x:9") } else { a.clone() });
    let at_9 = renamed.network.accounts.iter().position(|a| a == "x:1").unwrap();
    renamed.network.accounts[at_9] = "x:9".to_owned();
    spells.clear();
    crate::graph::Edges::spells(&output::NetworkEdges::new(&renamed).unwrap(), 0, &mut spells).unwrap();
    assert_eq!(spells, text.spells, "found whichever account is first");
    assert_eq!(merge_spells(vec![(5, 9), (1, 3), (2, 4), (9, 12)]), [(1, 4), (5, 12)]);
}

/// `domain`: links of one registrable domain are one key whatever their paths and hosts; shorteners are none.
#[tokio::test]
async fn links_of_one_domain_are_one_domain_key() {
    let shares = [
        ("1", 0, "https://news.example.co.uk/a"),
        ("2", 10, "https://www.example.co.uk/b"),
        ("1", 500, "https://other.org/x"),
        ("2", 505, "https://blog.other.org/y"),
        ("1", 900, "https://t.co/abc"),
        ("2", 901, "https://t.co/def"),
        ("1", 1500, "https://bit.ly/x1"),
        ("2", 1501, "https://bit.ly/x2"),
    ];
    let msgs: Vec<M> = shares
        .iter()
        .enumerate()
        .map(|(i, (a, t, url))| {
            let mut x = m(a, i, *t, "");
            x.urls = vec![url];
            x
        })
        .collect();
    let c = run_on(&msgs, only(&[Kind::Domain, Kind::Link])).await;
    assert_eq!(edge_set(&c), [(Kind::Domain, "x:1".into(), "x:2".into(), 2)], "no link is shared, two domains are");
    let labels: std::collections::BTreeSet<&str> = c.labels.values().map(String::as_str).collect();
    assert_eq!(labels, ["example.co.uk", "other.org"].into_iter().collect());
    assert!(Params::default().kinds.iter().all(|k| *k != Kind::Domain), "asked for, not a default");
    // Per channel and per cluster, the domains linked to most; shorteners marked.
    let of_1: Vec<(&str, u64, bool)> = c
        .channel_domains
        .iter()
        .filter(|d| d.channel == "x:1")
        .map(|d| (d.domain.as_str(), d.messages, d.shortener))
        .collect();
    assert_eq!(of_1, [("bit.ly", 1, true), ("example.co.uk", 1, false), ("other.org", 1, false), ("t.co", 1, true)]);
    let summaries = cluster_summaries(&c).unwrap();
    assert_eq!(
        summaries[0].top_domains,
        "bit.ly (2, a shortener); example.co.uk (2); other.org (2); t.co (2, a shortener)"
    );
}

/// `--window auto`: the window is CooRnet's estimate from the shared keys, and the run uses it.
#[tokio::test]
async fn window_auto_takes_the_estimate() {
    const URLS: [&str; 10] = [
        "https://a.example/0",
        "https://a.example/1",
        "https://a.example/2",
        "https://a.example/3",
        "https://a.example/4",
        "https://a.example/5",
        "https://a.example/6",
        "https://a.example/7",
        "https://a.example/8",
        "https://a.example/9",
    ];
    let mut msgs = Vec::new();
    for (i, url) in URLS.into_iter().enumerate() {
        for (a, delay) in [("1", 0), ("2", 5)] {
            let mut x = m(a, format!("{a}-{i}"), i as i64 * 1000 + delay, "");
            x.urls = vec![url];
            msgs.push(x);
        }
    }
    let c = run_on(&msgs, Params { window_auto: true, window_s: 600, ..only(&[Kind::Link]) }).await;
    assert_eq!(c.window_estimate.per_kind.get("link"), Some(&5.0));
    assert_eq!(c.params.window_s, 5);
    assert_eq!(edge_set(&c), [(Kind::Link, "x:1".into(), "x:2".into(), 10)]);
    // Without it, the estimate is reported beside the window used, with a warning when far apart.
    let c = run_on(&msgs, Params { window_s: 600, ..only(&[Kind::Link]) }).await;
    assert_eq!(c.params.window_s, 600);
    assert!(c.window_estimate.warning(600).is_some_and(|w| w.contains("(5 s")), "{:?}", c.window_estimate);
    assert!(c.window_estimate.warning(30).is_none());
}

/// `combine_kinds`: `min_weight` applies to a pair's specificity over its kinds together, text and similar
/// counting once; the pair's edges of every kind are kept.
#[tokio::test]
async fn combined_kinds_count_a_pairs_evidence_together() {
    let mut msgs = Vec::new();
    for (a, t) in [("1", 0), ("2", 5)] {
        let mut x = m(a, format!("{a}-0"), t, TEXT1);
        x.urls = vec!["https://a.example/1"];
        x.hashtags = vec!["tag"];
        msgs.push(x);
    }
    let kinds = [Kind::Text, Kind::Link, Kind::Hashtag, Kind::Similar];
    let per_kind = run_on(&msgs, only(&kinds)).await;
    assert!(per_kind.edges.is_empty(), "one key of each kind is under 2");
    let c = run_on(&msgs, Params { combine_kinds: true, min_weight: 3, ..only(&kinds) }).await;
    let found: Vec<Kind> = all_edges(&c).into_iter().map(|e| e.kind).collect();
    assert_eq!(found, [Kind::Text, Kind::Link, Kind::Hashtag, Kind::Similar], "text and similar count once: 3");
    let c = run_on(&msgs, Params { combine_kinds: true, min_weight: 4, ..only(&kinds) }).await;
    assert!(c.edges.is_empty());
    assert_eq!(c.left_out.pairs_below_min_weight.values().sum::<u64>(), 4);
}

#[tokio::test]
async fn hashtag_repost_reply_kinds() {
    let mut msgs = Vec::new();
    for (i, (a, t)) in [("1", 0), ("2", 5), ("1", 300), ("2", 320)].into_iter().enumerate() {
        let mut x = m(a, i, t, "");
        x.hashtags = vec![if t < 100 { "alpha" } else { "beta" }];
        msgs.push(x);
    }
    for (i, (a, t, orig)) in
        [("3", 0, "o1"), ("4", 3, "o1"), ("3", 900, "o2"), ("4", 905, "o2")].into_iter().enumerate()
    {
        let mut x = m(a, 10 + i, t, "RT the original text here");
        x.repost_of = Some(orig);
        msgs.push(x);
    }
    // Telegram replies to message 7 in two different chats are different targets.
    for (i, (a, chat, t, target)) in
        [("5", "c1", 0, "7"), ("6", "c1", 2, "7"), ("5", "c1", 50, "8"), ("6", "c2", 52, "8")].into_iter().enumerate()
    {
        let mut x = m(a, 20 + i, t, "");
        x.platform = "telegram";
        x.channel = chat;
        x.reply_to = Some(target);
        msgs.push(x);
    }
    let c = run_on(&msgs, only(&[Kind::Hashtag, Kind::Repost, Kind::Reply])).await;
    assert_eq!(
        edge_set(&c),
        [(Kind::Hashtag, "x:1".into(), "x:2".into(), 2), (Kind::Repost, "x:3".into(), "x:4".into(), 2)],
        "replies to message 8 in different chats are not the same target"
    );
    let c = run_on(&msgs, Params { min_weight: 1, ..only(&[Kind::Reply]) }).await;
    assert_eq!(edge_set(&c), [(Kind::Reply, "telegram:5".into(), "telegram:6".into(), 1)]);

    // Comments in a channel's discussion group on the channel's post (`1234:501`): one target, whatever group
    // they were written in, keyed as the post itself.
    let mut comments = Vec::new();
    for (i, (a, chat, t)) in
        [("7", "g1", 0), ("8", "g1", 3), ("7", "g1", 900), ("8", "g2", 903)].into_iter().enumerate()
    {
        let mut x = m(a, 40 + i, t, "");
        x.platform = "telegram";
        x.channel = chat;
        x.reply_to = Some(if t < 100 { "1234:501" } else { "1234:502" });
        comments.push(x);
    }
    let c = run_on(&comments, only(&[Kind::Reply])).await;
    assert_eq!(edge_set(&c), [(Kind::Reply, "telegram:7".into(), "telegram:8".into(), 2)]);
    assert!(c.labels.values().any(|l| l == "telegram:1234:501"), "{:?}", c.labels);
}

/// Quotes of the same original are `quote` actions, apart from reposts of it: accounts 1 and 2 quote two
/// originals within seconds, each with words of its own (no shared text); account 3 retweets them at the same
/// moments, a `repost`, linked to nobody by quotes.
#[tokio::test]
async fn quotes_of_one_original_are_their_own_kind() {
    let mut msgs = Vec::new();
    for (i, (a, t, orig)) in
        [("1", 0, "o1"), ("2", 4, "o1"), ("1", 600, "o2"), ("2", 610, "o2")].into_iter().enumerate()
    {
        let mut x = m(a, i, t, &format!("my own comment number {i} on this"));
        x.quote_of = Some(orig);
        msgs.push(x);
    }
    for (i, (t, orig)) in [(2, "o1"), (605, "o2")].into_iter().enumerate() {
        let mut x = m("3", 10 + i, t, "RT the original");
        x.repost_of = Some(orig);
        msgs.push(x);
    }
    let c = run_on(&msgs, Params::default()).await;
    assert_eq!(edge_set(&c), [(Kind::Quote, "x:1".into(), "x:2".into(), 2)]);
    assert!(c.labels.values().any(|l| l == "x:o1"), "{:?}", c.labels);
}

#[tokio::test]
async fn reposts_are_not_text_actions_and_forwards_are_reposts() {
    let mut msgs = Vec::new();
    for (i, (a, t)) in [("1", 0), ("2", 5), ("1", 300), ("2", 320)].into_iter().enumerate() {
        let mut x = m(a, i, t, if t < 100 { TEXT1 } else { TEXT2 });
        x.platform = "telegram";
        x.forwarded_from = Some("Source Channel");
        msgs.push(x);
    }
    let c = run_on(&msgs, only(&[Kind::Text, Kind::Repost])).await;
    assert_eq!(edge_set(&c), [(Kind::Repost, "telegram:1".into(), "telegram:2".into(), 2)]);
}

#[tokio::test]
async fn accounts_on_different_platforms_never_merge_and_keys_cross_platforms() {
    let mut msgs = vec![m("1", 1, 0, TEXT1), m("1", 2, 100, TEXT2)];
    let mut t1 = m("1", 3, 10, TEXT1);
    t1.platform = "telegram";
    let mut t2 = m("1", 4, 110, TEXT2);
    t2.platform = "telegram";
    msgs.extend([t1, t2]);
    let c = run_on(&msgs, only(&[Kind::Text])).await;
    assert_eq!(
        edge_set(&c),
        [(Kind::Text, "telegram:1".into(), "x:1".into(), 2)],
        "same author id on two platforms: two accounts, linked by the same texts"
    );
}

#[tokio::test]
async fn messages_without_author_are_left_out_and_counted() {
    let mut msgs = vec![m("1", 1, 0, TEXT1), m("1", 2, 100, TEXT2)];
    let mut x = m("2", 3, 1, TEXT1);
    x.author = None;
    msgs.push(x);
    let c = run_on(&msgs, only(&[Kind::Text])).await;
    assert!(c.edges.is_empty());
    assert_eq!(c.left_out.messages_without_author, 1);
}

#[tokio::test]
async fn similar_texts_read_in_time_slabs_give_the_edges_of_one_scan() {
    // Near-copies of a few texts by a dozen accounts over two hours, at 400 distinct times (so many share a
    // second), with some short texts: read in slabs of any size, with the last window of each carried into the
    // next, the edges (weights, times, evidence) and the count of short texts are those of a single scan.
    const NAMES: [&str; 12] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];
    let mut x = 11u64;
    let mut next = |n: u64| {
        x = crate::minhash::mix(x);
        x % n
    };
    let bases = [
        "the harbour workers walked out this morning over unpaid wages and the port is closed",
        "officials deny that the election count was delayed in the northern districts last night",
        "a new report says the river pollution comes from the factories upstream of the town",
        "volunteers are handing out water and bread at the station until the trains run again",
    ];
    let msgs: Vec<M> = (0..600)
        .map(|i| {
            let mut words: Vec<String> = bases[next(4) as usize].split(' ').map(str::to_owned).collect();
            let at = next(words.len() as u64) as usize;
            words[at] = format!("w{}", next(3));
            let text = if next(20) == 0 { "too short".to_owned() } else { words.join(" ") };
            m(NAMES[next(12) as usize], i, next(400) as i64 * 18, &text)
        })
        .collect();
    let ctx = session_with(&msgs);
    let p = SimilarParams::new(600 * S, 0.8, 1, 4);
    let (one_edges, one) = similar::edges(&ctx, &p, 3).await.unwrap();
    assert_eq!(one.slabs, 1);
    assert!(one_edges.len() > 30, "the corpus has edges: {}", one_edges.len());
    assert!(one.short_texts > 10, "and short texts: {}", one.short_texts);
    for per_slab in [1, 7, 50, 333] {
        let (got_edges, got) = similar::edges(&ctx, &SimilarParams { slab_texts: per_slab, ..p }, 3).await.unwrap();
        assert!(got.slabs > 1, "{per_slab} per slab: {} slabs", got.slabs);
        assert_eq!(got_edges, one_edges, "{per_slab} per slab");
        assert_eq!(got.short_texts, one.short_texts, "{per_slab} per slab");
    }
}

#[tokio::test]
async fn similar_texts_pair_within_window() {
    let base = "the quick brown fox jumps over the lazy dog again and again today";
    let edited = "the quick brown fox jumps over the lazy dog again and again tonight";
    let far = "the slow red fox walks around a sleepy cat once more tomorrow";
    let msgs = vec![
        m("1", 1, 0, base),
        m("2", 2, 20, edited),
        m("1", 3, 500, far),
        m("2", 4, 530, "the slow red fox walks around a sleepy cat once more tomorrow!"),
        m("3", 5, 5000, base),
    ];
    let c = run_on(&msgs, only(&[Kind::Similar])).await;
    assert_eq!(edge_set(&c), [(Kind::Similar, "x:1".into(), "x:2".into(), 2)]);
    assert_eq!((&*all_edges(&c)[0].evidence[0].0, &*all_edges(&c)[0].evidence[0].1), ("x:1:1", "x:2:2"));
    let c = run_on(&msgs, Params { similarity: 0.95, ..only(&[Kind::Similar]) }).await;
    assert!(c.edges.is_empty(), "0.83 is below 0.95; the identical pair alone is below min weight");
}

#[tokio::test]
async fn order_independence() {
    let mut msgs = Vec::new();
    let texts = [TEXT1, TEXT2, TEXT3];
    for (i, a) in ["1", "2", "3", "4"].into_iter().enumerate() {
        for (j, t) in texts.iter().enumerate() {
            let mut x = m(a, i * 10 + j, (j as i64) * 1000 + i as i64, t);
            x.urls = vec![["https://a.example/", "https://b.example/", "https://c.example/"][j]];
            x.hashtags = vec!["tag"];
            msgs.push(x);
        }
    }
    msgs.push(m("5", 99, 1001, TEXT2));
    let c1 = run_on(&msgs, Params::default()).await;
    let mut shuffled = msgs.clone();
    shuffled.reverse();
    shuffled.rotate_left(5);
    let c2 = run_on(&shuffled, Params::default()).await;
    assert_eq!(all_edges(&c1), all_edges(&c2));
    assert_eq!(c1.network, c2.network);
    assert!(!c1.edges.is_empty());
    assert_eq!(c1.network.clusters.len(), 1);
    assert_eq!(c1.network.clusters[0].members.len(), 4, "account 5 shares one text only");
}

#[tokio::test]
async fn null_model_separates_synchronised_pairs_from_busy_ones() {
    // Accounts 1 and 2 post the same ten texts seconds apart, hours between texts; the null model shuffles each
    // account's times among its own actions, which breaks the alignment.
    let mut msgs = Vec::new();
    for j in 0..10 {
        let text = format!("campaign message number {j} with enough words");
        msgs.push(m("1", j, j * 3600, &text));
        msgs.push(m("2", 100 + j, j * 3600 + 5, &text));
    }
    let params = Params { null_runs: 20, ..only(&[Kind::Text]) };
    let c = run_on(&msgs, params).await;
    assert_eq!(c.edges.len(), 1);
    let p = all_edges(&c)[0].p_value.unwrap();
    assert!(p < 0.1, "p = {p}");
}

#[tokio::test]
async fn sweep_reports_each_window() {
    let msgs = vec![m("1", 1, 0, TEXT1), m("2", 2, 30, TEXT1), m("1", 3, 500, TEXT2), m("2", 4, 530, TEXT2)];
    let c = run_on(&msgs, Params { sweep: vec![10, 60], ..only(&[Kind::Text]) }).await;
    let all: Vec<(u64, u64)> = c.sweep.iter().filter(|r| r.kind == "all").map(|r| (r.window_s, r.edges)).collect();
    assert_eq!(all, [(10, 0), (60, 1)]);
}

#[tokio::test]
async fn a_sweep_without_similar_sweeps_the_other_kinds_only() {
    let msgs = vec![m("1", 1, 0, TEXT1), m("2", 2, 30, TEXT1), m("1", 3, 500, TEXT2), m("2", 4, 530, TEXT2)];
    let kinds = [Kind::Text, Kind::Similar];
    let with = run_on(&msgs, Params { sweep: vec![60], sweep_similar: true, ..only(&kinds) }).await;
    let without = run_on(&msgs, Params { sweep: vec![60], ..only(&kinds) }).await;
    let names = |c: &Coordination| c.sweep.iter().map(|r| r.kind.clone()).collect::<Vec<_>>();
    assert_eq!(names(&with), ["text", "similar", "all"]);
    assert_eq!(names(&without), ["text", "all"]);
    assert_eq!(all_edges(&without), all_edges(&with), "the main run keeps every kind");
    let similar = with.sweep.iter().find(|r| r.kind == "similar").unwrap();
    assert_eq!(similar.edges, 1, "the texts are near-identical too");
}

#[tokio::test]
async fn outputs_follow_the_contract() {
    let mut msgs = vec![m("1", 1, 0, TEXT1), m("2", 2, 30, TEXT1), m("1", 3, 500, TEXT2), m("2", 4, 530, TEXT2)];
    msgs[0].author = Some("<script>alert(1)</script>");
    msgs[2].author = Some("<script>alert(1)</script>");
    let c = run_on(&msgs, Params::default()).await;
    let dir = tempfile::tempdir().unwrap();
    write_outputs(&c, dir.path(), crate::TableFormat::Csv, serde_json::json!({"command": "test"})).unwrap();
    let edges = std::fs::read_to_string(dir.path().join("edges.csv")).unwrap();
    assert!(edges.starts_with("account_a,account_b,kind,weight,first_seen,last_seen,evidence"));
    assert!(edges.contains("2023-11-14T22:13:20Z"), "{edges}");
    let clusters = std::fs::read_to_string(dir.path().join("clusters.csv")).unwrap();
    assert!(clusters.starts_with("cluster,account,first_on,second_on\n1,"));
    // The account that posted first on both texts leads on every edge it has; the other follows.
    let rows: Vec<Vec<&str>> = clusters.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let leader = rows.iter().find(|r| r[1].contains("script")).unwrap();
    let follower = rows.iter().find(|r| r[1] == "x:2").unwrap();
    assert!(leader[2].parse::<u64>().unwrap() >= 2 && leader[3] == "0", "{clusters}");
    assert_eq!((follower[2], follower[3]), (leader[3], leader[2]), "{clusters}");
    let gexf = std::fs::read_to_string(dir.path().join("network.gexf")).unwrap();
    assert!(gexf.contains("&lt;script&gt;") && !gexf.contains("<script>"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["parameters"]["window_s"], 60);
    assert_eq!(summary["command"], "test");
    assert_eq!(summary["clusters"], 1);
}

#[tokio::test]
async fn a_sweep_row_is_what_a_run_at_that_window_finds() {
    // Four accounts acting on texts, links and hashtags at gaps of 5 s to 400 s: each window links a different
    // set of pairs.
    let mut msgs = Vec::new();
    let authors = ["1", "2", "3", "4"];
    for (k, gap) in [5i64, 5, 40, 40, 400, 400, 5, 400].into_iter().enumerate() {
        let text = format!("{TEXT1} number {k}");
        for (j, a) in authors.iter().enumerate().take(2 + k % 3) {
            let mut x = m(a, format!("{k}-{j}"), k as i64 * 5000 + j as i64 * gap, &text);
            x.urls = vec![if k % 2 == 0 { "https://a.example/1" } else { "https://b.example/2" }];
            x.hashtags = vec!["tag"];
            msgs.push(x);
        }
    }
    let kinds = [Kind::Text, Kind::Link, Kind::Hashtag];
    let swept = run_on(&msgs, Params { sweep: vec![10, 600], min_weight: 1, ..only(&kinds) }).await;
    for w in [10, 600] {
        let at = run_on(&msgs, Params { window_s: w, min_weight: 1, ..only(&kinds) }).await;
        for kind in kinds {
            let row = swept.sweep.iter().find(|r| r.window_s == w && r.kind == kind.name()).unwrap();
            let edges = all_edges(&at).into_iter().filter(|e| e.kind == kind).count() as u64;
            assert_eq!(row.edges, edges, "{} at {w} s", kind.name());
        }
        let all = swept.sweep.iter().find(|r| r.window_s == w && r.kind == "all").unwrap();
        assert_eq!(
            (all.edges, all.accounts, all.clusters, all.largest_cluster),
            (
                at.network.edges.len() as u64,
                at.network.accounts.len() as u64,
                at.network.clusters.len() as u64,
                at.network.clusters.first().map_or(0, |c| c.members.len() as u64)
            ),
            "all kinds at {w} s"
        );
    }
    let edges_at = |w: u64| swept.sweep.iter().find(|r| r.window_s == w && r.kind == "all").unwrap().edges;
    assert!(edges_at(10) < edges_at(600), "the corpus separates the windows");
}

#[tokio::test]
async fn max_key_accounts_counts_accounts_not_actions() {
    // Two accounts post the same link and the same text six times each, a minute apart: twelve actions on each
    // key, but two accounts, so the keys stay in with a limit of three accounts. A third key, shared by four
    // accounts, is left out with its label.
    let mut msgs = Vec::new();
    for i in 0..6 {
        for (j, a) in ["1", "2"].into_iter().enumerate() {
            let mut x = m(a, format!("{i}-{j}"), i * 60 + j as i64, TEXT1);
            x.urls = vec!["https://busy.example/"];
            msgs.push(x);
        }
    }
    for (j, a) in ["1", "2", "3", "4"].into_iter().enumerate() {
        let mut x = m(a, format!("w-{j}"), 5000 + j as i64, TEXT2);
        x.urls = vec!["https://wide.example/"];
        msgs.push(x);
    }
    let kinds = [Kind::Link, Kind::Text];
    let c = run_on(&msgs, Params { max_key_accounts: 3, min_weight: 1, horizon: 0, ..only(&kinds) }).await;
    assert_eq!(
        edge_set(&c),
        [(Kind::Text, "x:1".into(), "x:2".into(), 1), (Kind::Link, "x:1".into(), "x:2".into(), 1)]
    );
    assert_eq!(c.left_out.over_max_keys.get("link"), Some(&1));
    assert_eq!(c.left_out.over_max_keys.get("text"), Some(&1));
    assert_eq!(c.left_out.over_max_actions.get("link"), Some(&4));
    let labels: Vec<&str> = c.left_out.top_over_max.iter().map(|t| t.1.as_str()).collect();
    assert!(labels.contains(&"https://wide.example/"), "{labels:?}");
    let label = |k: Kind| c.labels.iter().find(|((kind, _), _)| *kind == k).map(|(_, l)| l.clone());
    assert_eq!(label(Kind::Link).as_deref(), Some("https://busy.example/"));
}

static RELEASES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn count_release() {
    RELEASES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

#[tokio::test]
async fn every_step_starts_by_giving_freed_memory_back() {
    crate::memory::set_release(count_release);
    let before = RELEASES.load(std::sync::atomic::Ordering::Relaxed);
    let msgs = vec![m("1", 1, 0, TEXT1), m("2", 2, 10, TEXT1)];
    run_on(&msgs, Params { kinds: vec![Kind::Text, Kind::Similar], ..Params::default() }).await;
    // counting, similar, shared keys, the join, clustering, summarising, done (other tests may add to it).
    let released = RELEASES.load(std::sync::atomic::Ordering::Relaxed) - before;
    assert!(released >= 7, "released {released} times");
}

/// A crowd and a campaign on the same footing: six accounts post four headlines each, 40 s apart one after the
/// other (a crowd trickling in), so neighbours are within the 60 s window on all four keys; three accounts post
/// two texts within 5 s of each other (a campaign). Of a headline's pairs within the horizon (10 windows: all
/// 15), 5 are within the window: each headline counts a third, and the crowd's neighbours (4 keys, 4/3) fall
/// below `min_weight`. Without the horizon they are edges of weight 4. The campaign's keys are tight.
#[tokio::test]
async fn a_trickling_crowd_counts_its_tightness_and_a_burst_counts_whole() {
    const CROWD: [&str; 6] = ["c1", "c2", "c3", "c4", "c5", "c6"];
    let mut msgs = Vec::new();
    for event in 0..4i64 {
        for (i, a) in CROWD.into_iter().enumerate() {
            let text = format!("headline number {event} about the news of the day");
            msgs.push(m(a, format!("h{event}{i}"), event * 86_400 + i as i64 * 40, &text));
        }
    }
    for wave in 0..2i64 {
        for (i, a) in ["k1", "k2", "k3"].into_iter().enumerate() {
            let text = format!("campaign slogan {wave} repeated by every member");
            msgs.push(m(a, format!("k{wave}{i}"), 50_000 + wave * 86_400 + i as i64 * 2, &text));
        }
    }
    let kinds = [Kind::Text];
    let c = run_on(&msgs, only(&kinds)).await;
    let campaign = [("x:k1", "x:k2"), ("x:k1", "x:k3"), ("x:k2", "x:k3")];
    let got: Vec<(String, String)> = all_edges(&c).into_iter().map(|e| (e.a.to_string(), e.b.to_string())).collect();
    let campaign = campaign.map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(got, campaign);
    assert!(all_edges(&c).into_iter().all(|e| (e.specificity - 2.0).abs() < 1e-9));
    assert_eq!(c.left_out.loose_keys.get("text"), Some(&4));
    assert_eq!(c.left_out.pairs_below_min_weight.get("text"), Some(&5), "the crowd's neighbours");
    let off = run_on(&msgs, Params { horizon: 0, ..only(&kinds) }).await;
    let crowd: Vec<Edge> = all_edges(&off).into_iter().filter(|e| e.a.starts_with("x:c")).collect();
    assert_eq!(crowd.len(), 5);
    assert!(crowd.iter().all(|e| e.weight == 4 && (e.specificity - 4.0).abs() < 1e-9));
    assert!(off.left_out.loose_keys.is_empty());
}

/// The same crowd and campaign as near-identical texts (each account changes one word, so no two texts are
/// equal): each message of the crowd's pairs has 1 or 2 of its 5 partners within the horizon within the window,
/// so a pair weighs at most 2/5 a message, and the crowd's pairs fall below `min_weight`; the campaign's
/// messages have all their partners within the window.
#[tokio::test]
async fn near_duplicates_trickling_in_count_their_tightness() {
    const CROWD: [&str; 6] = ["c1", "c2", "c3", "c4", "c5", "c6"];
    let words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa";
    let mut msgs = Vec::new();
    for event in 0..4i64 {
        for (i, a) in CROWD.into_iter().enumerate() {
            let text = format!("event{event} {words} own{a}");
            msgs.push(m(a, format!("h{event}{i}"), event * 86_400 + i as i64 * 40, &text));
        }
    }
    for wave in 0..2i64 {
        for (i, a) in ["k1", "k2", "k3"].into_iter().enumerate() {
            let text = format!("wave{wave} quebec romeo sierra tango uniform victor whiskey xray yankee zulu own{a}");
            msgs.push(m(a, format!("k{wave}{i}"), 50_000 + wave * 86_400 + i as i64 * 2, &text));
        }
    }
    let kinds = [Kind::Similar];
    let c = run_on(&msgs, only(&kinds)).await;
    let got: Vec<(String, String)> = all_edges(&c).into_iter().map(|e| (e.a.to_string(), e.b.to_string())).collect();
    assert_eq!(got, [("x:k1", "x:k2"), ("x:k1", "x:k3"), ("x:k2", "x:k3")].map(|(a, b)| (a.to_owned(), b.to_owned())));
    assert!(all_edges(&c).into_iter().all(|e| e.weight == 2 && (e.specificity - 2.0).abs() < 1e-9));
    let off = run_on(&msgs, Params { horizon: 0, ..only(&kinds) }).await;
    let crowd: Vec<Edge> = all_edges(&off).into_iter().filter(|e| e.a.starts_with("x:c")).collect();
    assert_eq!(crowd.len(), 5, "neighbours 40 s apart");
    assert!(crowd.iter().all(|e| e.weight == 4 && (e.specificity - 4.0).abs() < 1e-9));
}

/// What the horizon costs a campaign whose texts are picked up later: three accounts post two slogans within
/// 4 s, and three others copy each slogan 2 to 4 minutes later, a minute apart. Of a slogan's 15 pairs of
/// actions within the horizon, the 3 campaign pairs and 2 copier pairs are within the window: each slogan counts
/// a third, and the campaign's pairs fall below `min_weight` 2 with two slogans (a campaign with five would
/// stay). The count of loose keys in the summary says so.
#[tokio::test]
async fn copiers_after_a_burst_make_its_keys_loose() {
    let mut msgs = Vec::new();
    for wave in 0..2i64 {
        let text = format!("campaign slogan {wave} repeated by every member");
        let start = wave * 86_400;
        for (i, a) in ["k1", "k2", "k3"].into_iter().enumerate() {
            msgs.push(m(a, format!("k{wave}{i}"), start + i as i64 * 2, &text));
        }
        for (i, a) in ["o1", "o2", "o3"].into_iter().enumerate() {
            msgs.push(m(a, format!("o{wave}{i}"), start + 120 + i as i64 * 60, &text));
        }
    }
    let c = run_on(&msgs, only(&[Kind::Text])).await;
    assert!(c.edges.is_empty(), "{:?}", edge_set(&c));
    assert_eq!(c.left_out.loose_keys.get("text"), Some(&2));
    let off = run_on(&msgs, Params { horizon: 0, ..only(&[Kind::Text]) }).await;
    assert_eq!(all_edges(&off).into_iter().filter(|e| e.a.starts_with("x:k")).count(), 3);
}

/// A campaign pushes one link and one hashtag in three waves days apart, its two accounts within seconds each
/// time: with episodes (the default) each wave is a new episode of the same keys, so the pair's link and hashtag
/// edges weigh 3. Counting keys once, they weigh 1 and fall under the minimum. The null model and a sweep
/// count the same way.
#[tokio::test]
async fn a_key_counts_once_per_episode() {
    let mut msgs = Vec::new();
    for wave in 0..3i64 {
        for (i, a) in ["1", "2"].into_iter().enumerate() {
            let mut x = m(a, format!("{wave}{i}"), wave * 86_400 + i as i64 * 3, "");
            x.urls = vec!["https://push.example/a"];
            x.hashtags = vec!["pushed"];
            msgs.push(x);
        }
    }
    let kinds = [Kind::Link, Kind::Hashtag];
    let episodes = || Params { episodes: true, ..only(&kinds) };
    let c = run_on(&msgs, episodes()).await;
    assert_eq!(
        edge_set(&c),
        [(Kind::Link, "x:1".into(), "x:2".into(), 3), (Kind::Hashtag, "x:1".into(), "x:2".into(), 3)]
    );
    assert_eq!(all_edges(&c)[0].evidence.len(), 3, "a pair of messages per episode");
    assert_eq!(all_edges(&c)[0].lead.a_first, 3);
    let once = run_on(&msgs, Params { episodes: false, ..only(&kinds) }).await;
    assert!(once.edges.is_empty());
    // The weights plan the null model and the sweep use counts episodes too.
    let swept = run_on(&msgs, Params { sweep: vec![60], ..episodes() }).await;
    let row = swept.sweep.iter().find(|r| r.kind == "link").unwrap();
    assert_eq!(row.edges, 1);
    let nulled = run_on(&msgs, Params { null_runs: 3, ..episodes() }).await;
    assert!(all_edges(&nulled).into_iter().all(|e| e.p_value.is_some()));
}

/// The timing test: with uniform lags the probability is the Irwin–Hall distribution's (exact up to 12 lags,
/// normal beyond, meeting at the mean); short lags are improbable, lags spread over the window are not.
#[test]
fn timing_p_is_the_chance_of_lags_this_short() {
    let p = |lags: u64, lag_shares: f64| Timing { lags, lag_shares }.p().unwrap();
    assert_eq!(Timing::default().p(), None);
    assert!((p(1, 0.25) - 0.25).abs() < 1e-12, "one lag: uniform");
    assert!((p(2, 0.5) - 0.125).abs() < 1e-12, "two lags summing to half a window: 0.5²/2");
    assert!((p(2, 1.5) - 0.875).abs() < 1e-12);
    assert!((p(12, 6.0) - 0.5).abs() < 1e-9 && (p(13, 6.5) - 0.5).abs() < 1e-6, "the mean on both sides");
    assert!((p(12, 4.0) - p(13, 4.0 * 13.0 / 12.0)).abs() < 0.02, "exact and normal agree near 12");
    assert!(p(20, 20.0 * 0.02) < 1e-9, "twenty lags of 2% of the window (the normal tail is the larger)");
    assert!(p(1000, 495.0) > 0.2, "a thousand lags spread over the window");
    assert!(p(3, 3.0) == 1.0 && p(3, 0.0) == 0.0);
    // Like chance only with enough lags to tell.
    assert!(!Timing { lags: 9, lag_shares: 4.5 }.like_chance() && Timing { lags: 10, lag_shares: 5.0 }.like_chance());
    assert!(!Timing { lags: 100, lag_shares: 30.0 }.like_chance());
}

/// Two busy accounts posting a link every ten seconds from the same small pool, independently, meet on every
/// link within the window again and again: an edge, and a cluster, whose timing is like chance. Three accounts
/// posting the same links within two seconds of each other are not.
#[tokio::test]
async fn busy_accounts_meet_by_chance_and_the_timing_says_so() {
    const POOL: [&str; 12] = [
        "https://n.example/0",
        "https://n.example/1",
        "https://n.example/2",
        "https://n.example/3",
        "https://n.example/4",
        "https://n.example/5",
        "https://n.example/6",
        "https://n.example/7",
        "https://n.example/8",
        "https://n.example/9",
        "https://n.example/10",
        "https://n.example/11",
    ];
    const PLANTED: [&str; 4] =
        ["https://p.example/0", "https://p.example/1", "https://p.example/2", "https://p.example/3"];
    let mut msgs = Vec::new();
    // A deterministic stream of pool indices per account.
    let mut state = [7u64, 1_000_003u64];
    for i in 0..2000i64 {
        for (k, author) in ["busy1", "busy2"].into_iter().enumerate() {
            state[k] = state[k].wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let mut x = m(author, format!("{author}-{i}"), i * 10 + 3 * k as i64, "news");
            x.urls = vec![POOL[(state[k] >> 33) as usize % POOL.len()]];
            msgs.push(x);
        }
    }
    for (j, url) in PLANTED.iter().enumerate() {
        for (k, author) in ["c1", "c2", "c3"].into_iter().enumerate() {
            let mut x = m(author, format!("{author}-{j}"), 5000 * j as i64 + k as i64, "look");
            x.urls = vec![url];
            msgs.push(x);
        }
    }
    let c = run_on(&msgs, only(&[Kind::Link])).await;
    let busy =
        all_edges(&c).into_iter().find(|e| &*e.a == "x:busy1" && &*e.b == "x:busy2").expect("the busy pair is linked");
    let busy_p = busy.lead.timing().p().unwrap();
    assert!(busy.lead.timing().lags > 100 && busy_p >= CHANCE_TIMING_P, "{:?} p {busy_p}", busy.lead);
    let planted: Vec<Edge> = all_edges(&c).into_iter().filter(|e| e.a.starts_with("x:c")).collect();
    assert_eq!(planted.len(), 3);
    assert!(planted.iter().all(|e| e.lead.timing().p().unwrap() < 0.001), "lags of 1-2 s of a 60 s window");
    let timings = cluster_timings(&c).unwrap();
    let cluster = |account: &str| c.network.cluster_of[c.network.accounts.iter().position(|a| a == account).unwrap()];
    assert_ne!(cluster("x:busy1"), 0);
    assert!(timings[&cluster("x:busy1")].like_chance());
    assert!(timings[&cluster("x:c1")].p().unwrap() < 0.001);
    let summaries = cluster_summaries(&c).unwrap();
    let of = |id: usize| summaries.iter().find(|s| s.cluster == id).unwrap().timing_p;
    assert_eq!(of(cluster("x:busy1")), timings[&cluster("x:busy1")].p());
    assert_eq!(of(cluster("x:c1")), timings[&cluster("x:c1")].p());
    let marked = |id: usize| summaries.iter().find(|s| s.cluster == id).unwrap().timing_like_chance();
    assert!(marked(cluster("x:busy1")) && !marked(cluster("x:c1")));
}

#[tokio::test]
async fn domain_summaries_of_busy_linking_accounts_fit_a_small_memory_pool() {
    // Two coordinated accounts, each also posting 20,000 messages of three links to 3,000 domains (one of them
    // twice): the summaries count messages per (account, domain) and per (channel, domain), 120,000 message
    // links, under a 4 MB budget (a pool of 1 MB): grouped by message too, they failed here.
    let mut msgs = vec![m("a", 1, 0, TEXT1), m("b", 2, 5, TEXT1), m("a", 3, 100, TEXT2), m("b", 4, 104, TEXT2)];
    let url = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    for n in 0..40_000usize {
        let (author, k) = (if n % 2 == 0 { "a" } else { "b" }, n / 2);
        let mut x = m(author, 100 + n, 1_000 + n as i64 * 7, &format!("note {n}"));
        x.urls = vec![
            url(format!("https://s{n}.d{}.org/p", k % 3_000)),
            url(format!("https://www.d{}.org/q{n}", k % 3_000)),
            url(format!("https://e{}.net/r", (k + 7) % 3_000)),
        ];
        msgs.push(x);
    }
    let run_in = async |memory: usize| run(&session_in_two(&msgs, memory), only(&[Kind::Text])).await.unwrap();
    let (small, large) = (run_in(4 << 20).await, run_in(1 << 30).await);
    let a = &small.domains["x:a"];
    assert_eq!(a.len(), 6_000, "d0.org … d2999.org and e0.net … e2999.net");
    let d0 = a.iter().find(|(d, _)| d == "d0.org").unwrap();
    assert_eq!(d0.1, 7, "the messages linking d0.org, each once though it links it twice");
    assert_eq!(small.domains, large.domains);
    assert_eq!(small.channel_domains, large.channel_domains);
    assert_eq!(small.channel_domains.iter().filter(|c| c.channel == "x:a").count(), CHANNEL_DOMAINS);
}
