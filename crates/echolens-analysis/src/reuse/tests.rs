//! Reuse cascades on small hand-built corpora: one test per rule.

use std::sync::Arc;

use datafusion::datasource::MemTable;
use echolens_model::Message;

use super::*;
use crate::analysis_session;
use crate::minhash::shingles;

const S: i64 = 1_000_000;
const T0: i64 = 1_700_000_000 * S;
const DAY: i64 = 86_400;

#[derive(Clone)]
struct M {
    platform: &'static str,
    channel: String,
    channel_name: Option<String>,
    id: String,
    ts: i64,
    text: String,
    forwarded_from: Option<String>,
    repost_of: Option<String>,
}

fn tg(channel: &str, id: impl ToString, secs: i64, text: &str) -> M {
    M {
        platform: "telegram",
        channel: channel.to_owned(),
        channel_name: Some(format!("name_{channel}")),
        id: id.to_string(),
        ts: T0 + secs * S,
        text: text.to_owned(),
        forwarded_from: None,
        repost_of: None,
    }
}

fn to_message(x: &M) -> Message {
    Message {
        platform: x.platform.to_owned(),
        channel_id: x.channel.clone(),
        channel_name: x.channel_name.clone(),
        message_id: x.id.clone(),
        author_id: Some(format!("author_{}", x.channel)),
        ts: x.ts,
        ts_exact: true,
        text: x.text.clone(),
        text_norm: echolens_text::normalize(&x.text),
        forwarded_from: x.forwarded_from.clone(),
        repost_of: x.repost_of.clone(),
        source_file: "test".into(),
        source_record: 1,
        ..Message::default()
    }
}

async fn run_on(messages: &[M], params: Params) -> Reuse {
    run_on_parts(messages, params, None).await
}

/// [`run_on`] with 2^`part_bits` parts on disk.
async fn run_on_parts(messages: &[M], params: Params, part_bits: Option<u32>) -> Reuse {
    let ctx = analysis_session(1 << 30).unwrap();
    let rows: Vec<Message> = messages.iter().map(to_message).collect();
    let batch = echolens_store::messages_to_batch(rows.iter()).unwrap();
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]]).unwrap();
    ctx.register_table("messages", Arc::new(table)).unwrap();
    run_in_parts(&ctx, params, part_bits).await.unwrap()
}

/// (cascade, key, role, parent key) of every member.
fn shape(r: &Reuse) -> Vec<(usize, String, Role, Option<String>)> {
    r.members.iter().map(|m| (m.cascade, m.key.clone(), m.role, m.parent_key.clone())).collect()
}

/// A deterministic text of `n` distinct invented words.
fn words(seed: u64, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("w{}x{}", crate::minhash::mix(seed * 1000 + i as u64) % 100_000, i)).collect()
}

#[test]
fn bands_make_pairs_at_the_threshold_candidates() {
    for t in [0.3, 0.5, 0.7, 0.8, 0.9] {
        let b = bands_for(t);
        let p = t.powi(ROWS as i32);
        let at_least_two = 1.0 - (1.0 - p).powi(b as i32) - b as f64 * p * (1.0 - p).powi(b as i32 - 1);
        assert!(at_least_two >= 0.99, "t={t} bands={b}");
        assert!(bands_for(t - 0.05) >= b, "more bands for lower thresholds");
    }
    assert_eq!(bands_for(0.5), 24);
}

#[tokio::test]
async fn a_copy_exactly_at_the_threshold_counts_and_just_below_does_not() {
    let origin = words(1, 20);
    let mut edited = origin.clone();
    edited[7] = "changed".into();
    edited[14] = "replaced".into();
    let (a, b) = (origin.join(" "), edited.join(" "));
    let j = jaccard(&shingles(&echolens_text::normalize(&a), 2), &shingles(&echolens_text::normalize(&b), 2));
    assert!(j > 0.5 && j < 0.9, "{j}");
    // A month apart: reuse has no time window.
    let corpus = [tg("1", 1, 0, &a), tg("2", 1, 30 * DAY, &b)];
    let at = run_on(&corpus, Params::new(j, 2)).await;
    assert_eq!(
        shape(&at),
        [
            (1, "telegram:1:1".into(), Role::Origin, None),
            (1, "telegram:2:1".into(), Role::Copy, Some("telegram:1:1".into()))
        ]
    );
    assert!((at.members[1].similarity.unwrap() - j).abs() < 1e-6);
    let above = run_on(&corpus, Params::new(j + 0.001, 2)).await;
    assert!(above.members.is_empty());
    assert_eq!(above.counts.near_links, 0);
}

#[test]
fn defaults_find_ten_percent_edits_and_prefixes_but_not_unrelated_texts() {
    let p = Params::default();
    let mut rng = 7u64;
    let mut next = |n: usize| {
        rng = crate::minhash::mix(rng);
        (rng % n as u64) as usize
    };
    let common = ["the", "of", "and", "to", "in", "is", "for", "on", "that", "with"];
    let make = |n: usize, next: &mut dyn FnMut(usize) -> usize| -> Vec<String> {
        (0..n)
            .map(|_| if next(2) == 0 { common[next(common.len())].to_owned() } else { format!("c{}", next(3000)) })
            .collect()
    };
    let sim =
        |a: &[String], b: &[String]| jaccard(&shingles(&a.join(" "), p.shingle), &shingles(&b.join(" "), p.shingle));
    let mut worst_copy = 1.0f64;
    let mut worst_unrelated = 0.0f64;
    for round in 0..2000 {
        let n = 10 + round % 21;
        let origin = make(n, &mut next);
        let mut copy = origin.clone();
        for _ in 0..n / 10 {
            let at = next(n);
            copy[at] = format!("edit{}", next(1000));
        }
        worst_copy = worst_copy.min(sim(&origin, &copy));
        let mut prefixed = vec!["via".to_owned(), "@somechannel".to_owned()];
        prefixed.extend(origin.iter().cloned());
        worst_copy = worst_copy.min(sim(&origin, &prefixed));
        let mut suffixed = origin.clone();
        suffixed.extend(["(from".to_owned(), "somechannel)".to_owned()]);
        worst_copy = worst_copy.min(sim(&origin, &suffixed));
        let unrelated = make(n, &mut next);
        worst_unrelated = worst_unrelated.max(sim(&origin, &unrelated));
    }
    assert!(worst_copy >= p.threshold, "a 10% edit or a prefix fell to {worst_copy}");
    assert!(worst_unrelated < p.threshold, "unrelated texts reached {worst_unrelated}");
}

#[tokio::test]
async fn persian_variant_letters_and_missing_zwnj_are_the_same_text() {
    let origin =
        "گزارش ویژه: آن\u{200C}ها می\u{200C}گویند که قیمت نان دوباره بالا می\u{200C}رود و مردم در صف\u{200C}های طولانی";
    let arabic = origin.replace('ی', "ي").replace('ک', "ك").replace('\u{200C}', "");
    let corpus = [tg("1", 1, 0, origin), tg("2", 1, 3600, &arabic)];
    let r = run_on(&corpus, Params::default()).await;
    assert_eq!(r.members.len(), 2);
    assert_eq!(r.members[1].similarity, Some(1.0));
    assert_eq!(r.counts.exact_links, 1);
}

#[tokio::test]
async fn forwards_and_reposts_link_without_a_text_match() {
    let text = words(2, 15).join(" ");
    let mut fwd = tg("2", 1, 600, &text);
    fwd.forwarded_from = Some("name_1".into());
    // The original in channel 1, an unrelated copy elsewhere first would not change the forward's source.
    let mut lost = tg("3", 1, 900, &words(3, 15).join(" "));
    lost.forwarded_from = Some("a channel not in the store".into());
    let original = M {
        platform: "x",
        channel: "500".into(),
        channel_name: None,
        ..tg("500", 77, 1, "the original tweet text here")
    };
    let repost = M {
        platform: "x",
        channel: "600".into(),
        channel_name: None,
        repost_of: Some("77".into()),
        ..tg("600", 78, 60, "RT @someone: the original tw…")
    };
    let corpus = [tg("1", 1, 0, &text), fwd, lost, original, repost];
    let r = run_on(&corpus, Params::default()).await;
    let s = shape(&r);
    assert!(s.contains(&(1, "telegram:2:1".into(), Role::Forward, Some("telegram:1:1".into()))), "{s:?}");
    assert!(s.contains(&(2, "x:600:78".into(), Role::Forward, Some("x:500:77".into()))), "{s:?}");
    let repost = r.members.iter().find(|m| m.key == "x:600:78").unwrap();
    assert_eq!(repost.similarity, None);
    assert_eq!(r.counts.reposts_linked, 1);
    assert_eq!(r.counts.forwards_linked, 1);
    assert_eq!(r.counts.forwards_to_named_channel, 1);
    assert_eq!(r.counts.forwards_unresolved, 1);
    assert_eq!(r.counts.forwards_source_not_in_store, 1);
    // The forward network: channel 2 forwards from channel 1 (named, in the store), channel 3 from a source
    // outside the corpus; each edge with its forward as evidence.
    let edge = |channel: &str| r.forwards.iter().find(|f| f.channel_id == channel).unwrap();
    assert_eq!(r.forwards.len(), 2, "{:?}", r.forwards);
    let inside = edge("2");
    assert_eq!((inside.source.as_str(), inside.source_channel_id.as_deref()), ("name_1", Some("1")));
    assert_eq!((inside.forwards, inside.evidence.as_slice()), (1, &["telegram:2:1".to_owned()][..]));
    let outside = edge("3");
    assert_eq!((outside.source.as_str(), outside.source_channel_id.as_deref()), ("a channel not in the store", None));
    assert_eq!(outside.first, T0 + 900 * S);
}

#[tokio::test]
async fn a_forward_prefers_the_channel_it_names() {
    let text = words(4, 20);
    let mut a = text.clone();
    a[3] = "variant".into();
    let mut b = text.clone();
    b[16] = "other".into();
    // Channels 1 and 2 both carry a near copy; the forward in channel 3 names channel 2.
    let mut fwd = tg("3", 1, 7200, &text.join(" "));
    fwd.forwarded_from = Some("name_2".into());
    let corpus = [tg("1", 1, 0, &a.join(" ")), tg("2", 1, 3600, &b.join(" ")), fwd];
    let r = run_on(&corpus, Params::default()).await;
    let f = r.members.iter().find(|m| m.key == "telegram:3:1").unwrap();
    assert_eq!(f.role, Role::Forward);
    assert_eq!(f.parent_key.as_deref(), Some("telegram:2:1"));
}

#[tokio::test]
async fn channel_boilerplate_does_not_glue_unrelated_texts() {
    let signature = "🔴 join us @our_channel for the news every day and night";
    let mut corpus = Vec::new();
    for i in 0..30u64 {
        corpus.push(tg("1", i, i as i64 * 600, &format!("{} {signature}", words(100 + i, 3).join(" "))));
    }
    let params = Params { min_channels: 1, ..Params::default() };
    let r = run_on(&corpus, params.clone()).await;
    assert!(r.members.is_empty(), "{:?}", shape(&r));
    assert!(r.counts.boilerplate_shingles >= 9, "{:?}", r.counts);
    assert_eq!(r.counts.boilerplate_texts, 30);
    assert_eq!(r.boilerplate[0].channel, "telegram:1");
    // The rule is what keeps them apart: with boilerplate detection off they glue into one cascade.
    let off = run_on(&corpus, Params { boilerplate_min_messages: u64::MAX, common_share: 2.0, ..params }).await;
    assert_eq!(off.counts.cascades, 1);
    assert_eq!(off.members.len(), 30);
}

#[tokio::test]
async fn boilerplate_leaves_the_sets_on_disk_across_many_chunks() {
    // Enough messages for several batches, each cut into a chunk of sets per piece: more chunks than a group of
    // them read at once. Each message has the channel's signature; one of them is copied, without it, into a
    // second channel.
    let signature = "🔴 join us @our_channel for the news every day and night";
    let mut corpus = Vec::new();
    for i in 0..20_000u64 {
        corpus.push(tg("1", i, i as i64 * 60, &format!("{} {signature}", words(1000 + i, 12).join(" "))));
    }
    corpus.push(tg("2", 1, 20_000 * 60, &words(1000 + 14321, 12).join(" ")));
    let r = run_on(&corpus, Params::default()).await;
    assert_eq!(r.counts.boilerplate_texts, 20_000, "{:?}", r.counts);
    assert_eq!(
        shape(&r),
        [
            (1, "telegram:1:14321".into(), Role::Origin, None),
            (1, "telegram:2:1".into(), Role::Copy, Some("telegram:1:14321".into()))
        ],
        "the copy matches its original once the signature left the original's set"
    );
    // 11 shingles shared; the original keeps one more, where its text meets the signature.
    let similarity = r.members[1].similarity.expect("a copy's similarity");
    assert!((similarity - 11.0 / 12.0).abs() < 1e-6, "{similarity}");
}

#[tokio::test]
async fn lone_texts_and_one_channel_repeats_are_not_cascades() {
    let text = words(5, 12).join(" ");
    let corpus = [
        tg("1", 1, 0, &words(6, 12).join(" ")),
        tg("2", 1, 0, &text),
        tg("2", 2, 60, &text),
        tg("3", 1, 0, "ok"),
        tg("4", 1, 10, "ok"),
    ];
    let r = run_on(&corpus, Params::default()).await;
    // "ok" is short: it matches only exactly, and does, across two channels.
    assert_eq!(
        shape(&r),
        [
            (1, "telegram:3:1".into(), Role::Origin, None),
            (1, "telegram:4:1".into(), Role::Copy, Some("telegram:3:1".into()))
        ]
    );
    assert_eq!(r.counts.cascades_found, 2);
    assert_eq!(r.counts.cascades_below_min_channels, 1);
    assert_eq!(r.counts.members_below_min_channels, 2);
    assert_eq!(r.counts.short_texts, 2);
}

#[tokio::test]
async fn shuffled_input_gives_the_same_cascades() {
    let mut corpus = Vec::new();
    for c in 0..6u64 {
        let base = words(10 + c, 18);
        for (k, ch) in ["1", "2", "3", "4"].iter().enumerate() {
            let mut w = base.clone();
            if k > 0 {
                w[k * 4] = format!("edit{k}");
            }
            corpus.push(tg(ch, c * 10 + k as u64, (c * 1000 + k as u64 * 100) as i64, &w.join(" ")));
        }
        corpus.push(tg("5", 900 + c, c as i64 * 77, &words(50 + c, 10).join(" ")));
    }
    let a = run_on(&corpus, Params::default()).await;
    assert_eq!(a.counts.cascades, 6);
    let mut shuffled = corpus.clone();
    shuffled.reverse();
    shuffled.swap(3, 17);
    let b = run_on(&shuffled, Params::default()).await;
    assert_eq!(a.members, b.members);
}

#[tokio::test]
async fn the_parts_on_disk_do_not_change_the_cascades() {
    // Near-duplicates (edited copies, copies of copies, a rejected half-copy) and exact copies among unrelated
    // texts: the texts, band keys and candidate pairs go through 1, 8 and 256 parts on disk, and the same links
    // come out.
    let mut corpus = Vec::new();
    for c in 0..40u64 {
        let base = words(100 + c, 20);
        for k in 0..5u64 {
            let mut w = base.clone();
            for e in 0..=k as usize {
                w[(e * 3 + c as usize) % 20] = format!("edit{c}x{k}x{e}");
            }
            if k == 4 {
                w.truncate(9);
                w.extend(words(900 + c, 11));
            }
            corpus.push(tg(&format!("{}", k + 1), c * 10 + k, (c * 500 + k * 60) as i64, &w.join(" ")));
        }
        corpus.push(tg("9", 5000 + c, c as i64 * 31, &words(700 + c, 15).join(" ")));
        // Exact copies of the first text, and of a short one.
        let first = corpus[corpus.len() - 6].text.clone();
        corpus.push(tg("7", 7000 + c, (c * 500 + 400) as i64, &first));
        corpus.push(tg("8", 8000 + c, (c * 500 + 410) as i64, &first));
        corpus.push(tg("7", 7500 + c, (c * 500 + 1) as i64, &format!("short {c}")));
        corpus.push(tg("8", 8500 + c, (c * 500 + 2) as i64, &format!("short {c}")));
    }
    let mut results = Vec::new();
    for bits in [0, 3, 8] {
        results.push(run_on_parts(&corpus, Params::default(), Some(bits)).await);
    }
    let one = &results[0];
    assert!(one.counts.near_links >= 80, "near-duplicates found: {:?}", one.counts);
    assert!(one.counts.candidates_rejected > 0, "a candidate was rejected: {:?}", one.counts);
    assert_eq!(one.counts.exact_links, 120, "two copies of a text and one of a short text per group");
    for other in &results[1..] {
        assert_eq!(one.members, other.members);
        assert_eq!(
            (one.counts.near_links, one.counts.candidates_checked, one.counts.candidates_rejected),
            (other.counts.near_links, other.counts.candidates_checked, other.counts.candidates_rejected)
        );
        assert_eq!(one.counts.exact_links, other.counts.exact_links);
    }
}

#[test]
fn parts_grow_with_the_corpus_from_sixteen() {
    assert_eq!(part_bits(0), MIN_PART_BITS);
    assert_eq!(part_bits(10_000_000), 4);
    assert_eq!(part_bits(53_000_000), 6);
    assert_eq!(part_bits(usize::MAX / 2), MAX_PART_BITS);
    // Consecutive ranges of ranks, every part used, the last rank in the last part.
    let parts: Vec<usize> = (0..100u32).map(|r| rank_part(r, 100, 8)).collect();
    assert!(parts.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!((parts[0], parts[99]), (0, 7));
    assert_eq!(key_part(u32::MAX, 0), 0);
    assert_eq!(key_part(u32::MAX, 4), 15);
    assert_eq!((top_bits(u64::MAX, 6), top_bits(1 << 58, 6), top_bits((1 << 58) - 1, 6)), (63, 1, 0));
}

#[tokio::test]
async fn outputs_follow_the_contract_and_escape_names() {
    let text = words(7, 16).join(" ");
    let mut a = tg("1", 1, 0, &text);
    a.channel_name = Some("<script>alert(1)</script>".into());
    let corpus = [a, tg("2", 1, 3600, &text), tg("3", 1, 7200, &format!("via @x: {text}"))];
    let r = run_on(&corpus, Params::default()).await;
    let dir = tempfile::tempdir().unwrap();
    write_outputs(&r, dir.path(), crate::TableFormat::Csv, serde_json::json!({"command": "test"})).unwrap();
    let cascades = std::fs::read_to_string(dir.path().join("cascades.csv")).unwrap();
    let mut lines = cascades.lines();
    assert_eq!(lines.next().unwrap(), "cascade,key,channel_id,channel_name,author_id,ts,role,parent_key,similarity");
    assert_eq!(cascades.lines().count(), 4);
    let summary = std::fs::read_to_string(dir.path().join("cascade_summary.csv")).unwrap();
    let rows: Vec<&str> = summary.lines().collect();
    assert!(rows[0].starts_with("cascade,size,channels,platforms,origin_key"), "{}", rows[0]);
    // 3 members, 3 channels; half (2 channels) reached after an hour; span two hours.
    assert!(rows[1].starts_with("1,3,3,telegram,telegram:1:1,1,"), "{}", rows[1]);
    assert!(rows[1].contains(",3600,7200,"), "{}", rows[1]);
    let gexf = std::fs::read_to_string(dir.path().join("reuse_network.gexf")).unwrap();
    assert!(gexf.contains("&lt;script&gt;") && !gexf.contains("<script>"));
    assert!(gexf.contains("defaultedgetype=\"directed\""));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["parameters"]["threshold"], 0.5);
    assert_eq!(json["counts"]["members"], 3);
}

#[test]
fn band_keys_make_pairs_at_the_threshold_candidates_in_practice() {
    // Pairs of 30-shingle sets sharing 20: Jaccard exactly 0.5, the default threshold.
    let p = Params::default();
    let perms = crate::minhash::Permutations::new(ROWS * p.bands);
    let mut next = 11u64;
    let mut fresh = || {
        next = crate::minhash::mix(next);
        (next >> 32) as u32
    };
    let (mut found, rounds) = (0, 2000);
    for _ in 0..rounds {
        let shared: Vec<u32> = (0..20).map(|_| fresh()).collect();
        let a: Vec<u32> = shared.iter().copied().chain((0..10).map(|_| fresh())).collect();
        let b: Vec<u32> = shared.iter().copied().chain((0..10).map(|_| fresh())).collect();
        let keys = |s: &[u32]| {
            let mut out = vec![7];
            band_keys(s, &perms, &mut Vec::new(), &mut out);
            assert_eq!(out[0], 7, "band keys are appended");
            out.split_off(1)
        };
        let (ka, kb) = (keys(&a), keys(&b));
        let hits = ka.iter().filter(|k| kb.binary_search(k).is_ok()).count();
        if hits >= MIN_HITS {
            found += 1;
        }
    }
    // The bands are chosen for 0.99; allow for sampling error over 2000 pairs.
    assert!(found as f64 >= 0.975 * rounds as f64, "{found} of {rounds} pairs at the threshold became candidates");
}

#[test]
fn sampled_boilerplate_counts_are_exact_and_miss_nothing_in_the_share() {
    // Channel 0: 2000 texts of unique shingles, plus shingle 1 in the last 500 (25%, all at the end), shingle 2
    // in the first 400 (exactly 20%), shingle 3 in 300 spread out (15%). Channel 1: 30 texts (counted whole),
    // shingle 4 in 6 of them (20%). Channel 2 is not checked.
    let mut unique = 1000u32;
    let mut fresh = || {
        unique += 1;
        unique
    };
    let mut texts: Vec<(u32, Vec<u32>)> = Vec::new();
    for i in 0..2000u32 {
        let mut set: Vec<u32> = (0..8).map(|_| fresh()).collect();
        set.extend([(i >= 1500).then_some(1), (i < 400).then_some(2), (i % 20 < 3).then_some(3)].into_iter().flatten());
        texts.push((0, set));
    }
    for i in 0..30u32 {
        let mut set: Vec<u32> = (0..8).map(|_| fresh()).collect();
        set.extend((i % 5 == 0).then_some(4));
        texts.push((1, set));
    }
    texts.push((2, vec![1, 2, 3, 4]));
    // Interleaved as a scan would give them, in chunks of 100.
    texts.sort_by_key(|(c, s)| (s[0] % 7, *c));
    let ctx = SessionContext::new();
    let mut sets = spill::ListFile::new(&ctx, "test sets").unwrap();
    for (n, part) in texts.chunks(100).enumerate() {
        let sorted = part.iter().map(|(_, s)| {
            let mut s = s.clone();
            s.sort_unstable();
            s
        });
        sets.push(&Chunk::new((n * 100) as u32, sorted)).unwrap();
    }
    sets.flush().unwrap();
    let p = Params::default();
    // Each text's key hash, as the scan gives them: the samples are drawn by it.
    let mut docs = spill::Records::new(&ctx, "test documents").unwrap();
    for (i, (c, set)) in texts.iter().enumerate() {
        let key_h = xxhash_rust::xxh3::xxh3_64(&(i as u64).to_le_bytes()) as i64;
        let doc = Doc { ts: 0, key_h, channel: *c, words: set.len() as u32, source: NOT_FORWARD, text_h: 0 };
        docs.push(&doc.to_words()).unwrap();
    }
    let docs = docs.finish().unwrap();
    let (found, _) = count_frequent(&ctx, &sets, &docs, |_| true, &[true, true, false], &p).unwrap();
    let (texts0, b0) = found[0].clone().expect("channel 0 checked");
    assert_eq!(texts0, 2000);
    let mut b0: Vec<u32> = b0.into_iter().collect();
    b0.sort_unstable();
    assert_eq!(b0, [1, 2], "25% at the end and exactly 20% are boilerplate, 15% is not");
    let (texts1, b1) = found[1].clone().expect("channel 1 checked");
    assert_eq!((texts1, b1.into_iter().collect::<Vec<_>>()), (30, vec![4]));
    assert!(found.get(2).is_none_or(Option::is_none));
}

proptest::proptest! {
    /// Time order cut into parts at a sample's boundaries, each part sorted alone, is the whole sorted: with
    /// many texts at one time (a day's export without hours), a sample thinned out, and any number of parts.
    #[test]
    fn time_parts_sorted_one_by_one_are_time_order(seed in 0u64..1000, n in 0usize..3000, times in 1i64..50,
                                                   bits in 0u32..6) {
        let docs: Vec<(i64, i64)> =
            (0..n as u64).map(|i| ((mix(i ^ seed) % times as u64) as i64, mix(i.wrapping_mul(31) ^ seed) as i64)).collect();
        let mut sample = TimeSample::new();
        for &(ts, h) in &docs {
            sample.offer(ts, h);
        }
        proptest::prop_assert!(sample.values.len() <= TimeSample::MAX);
        let parts = 1usize << bits;
        let boundaries = sample.boundaries(parts);
        let mut cut = vec![Vec::new(); parts];
        for &(ts, h) in &docs {
            cut[time_part(&boundaries, ts, h)].push((ts, h));
        }
        let mut whole = docs.clone();
        whole.sort_unstable();
        let joined: Vec<(i64, i64)> = cut.into_iter().flat_map(|mut part| {
            part.sort_unstable();
            part
        }).collect();
        proptest::prop_assert_eq!(joined, whole);
    }
}

#[test]
fn a_sample_stays_small_and_even() {
    let mut sample = TimeSample::new();
    for i in 0..1_000_000u64 {
        sample.offer(i as i64, mix(i) as i64);
    }
    assert!(sample.values.len() <= TimeSample::MAX && sample.values.len() > TimeSample::MAX / 4);
    // Four parts of a million evenly spread times: each boundary within 2% of its quarter.
    let boundaries = sample.boundaries(4);
    for (i, &(ts, _)) in boundaries.iter().enumerate() {
        let quarter = (i as i64 + 1) * 250_000;
        assert!((ts - quarter).abs() < 20_000, "boundary {i} at {ts}");
    }
}

#[test]
fn key_hashes_are_read_back_by_rank_across_blocks() {
    let ctx = analysis_session(1 << 26).unwrap();
    let mut file = spill::Records::new(&ctx, "test: key hashes").unwrap();
    // Three blocks and a bit; each hash names its rank.
    let n = 3 * (1u64 << 16) + 5;
    let hashes: Vec<u64> = (0..n).map(|r| r * 3 + 1).collect();
    file.push(&hashes).unwrap();
    let file = file.finish().unwrap();
    // Out of order, repeated, in the first, third and last blocks and none in the second.
    let asked = [131_075u32, 0, 7, 131_075, 65_535, (n - 1) as u32];
    let (ranks, found) = key_hashes(&file, asked.iter().copied()).unwrap();
    assert_eq!(ranks, [0, 7, 65_535, 131_075, (n - 1) as u32]);
    let expected: Vec<i64> = ranks.iter().map(|&r| i64::from(r) * 3 + 1).collect();
    assert_eq!(found, expected);
    assert!(key_hashes(&file, [n as u32].into_iter()).is_err(), "a rank past the end is an error");
    assert_eq!(key_hashes(&file, std::iter::empty()).unwrap(), (vec![], vec![]));
}

mod places {
    use proptest::prelude::*;

    use super::super::permute;

    proptest! {
        /// Moving items to their places in place gives what sorting them by place gives.
        #[test]
        fn items_are_moved_to_their_places(
            places in proptest::sample::subsequence((0u32..400).collect::<Vec<_>>(), 0..400).prop_shuffle()
        ) {
            // `places` is a shuffle of some numbers: their ranks make a permutation.
            let mut sorted = places.clone();
            sorted.sort_unstable();
            let to: Vec<u32> = places.iter().map(|p| sorted.binary_search(p).unwrap() as u32).collect();
            let mut items: Vec<String> = places.iter().map(|p| format!("item {p}")).collect();
            permute(&mut items, to);
            let want: Vec<String> = sorted.iter().map(|p| format!("item {p}")).collect();
            prop_assert_eq!(items, want);
        }
    }
}
