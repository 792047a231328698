//! Vocabulary analyses on small hand-built corpora.

use std::sync::Arc;

use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use echolens_model::Message;

use super::diffusion::{self, Terms};
use super::keyness::{self, log_odds_z};
use super::lexicon::Lexicon;
use super::timeline::{self, Group, Period};
use crate::analysis_session;
use crate::select::Selection;

const S: i64 = 1_000_000;
/// 2024-03-01T00:00:00Z.
const T0: i64 = 1_709_251_200;
const DAY: i64 = 86_400;

fn msg(channel: &str, n: usize, secs: i64, text: &str) -> Message {
    Message {
        platform: "telegram".to_owned(),
        channel_id: channel.to_owned(),
        channel_name: Some(format!("name_{channel}")),
        message_id: n.to_string(),
        author_id: Some(format!("author_{channel}")),
        ts: (T0 + secs) * S,
        ts_exact: true,
        text: text.to_owned(),
        text_norm: echolens_text::normalize(text),
        source_file: "test".into(),
        source_record: n as u64,
        ..Message::default()
    }
}

fn session(rows: &[Message]) -> SessionContext {
    session_within(rows, 1 << 30)
}

/// [`session`] with a budget of `memory` bytes.
fn session_within(rows: &[Message], memory: usize) -> SessionContext {
    let ctx = analysis_session(memory).unwrap();
    let batch = echolens_store::messages_to_batch(rows.iter()).unwrap();
    // Two partitions, as a real scan gives, so partial tables are merged.
    let half = batch.num_rows() / 2;
    let parts = vec![vec![batch.slice(0, half)], vec![batch.slice(half, batch.num_rows() - half)]];
    let table = MemTable::try_new(batch.schema(), parts).unwrap();
    ctx.register_table("messages", Arc::new(table)).unwrap();
    ctx
}

#[test]
fn z_scores_equal_the_formula_on_a_fixed_table() {
    // Counts (y_i, y_j) and totals (n_i, n_j) with prior scale 0.5: δ and z worked out by hand with the
    // formula in the module docs (computed to 12 places in Python with the same formula).
    let n = [1000.0, 4000.0];
    let s = 0.5;
    let alpha0 = s * (n[0] + n[1]);
    let cases = [
        ([50.0, 20.0], 1.070_445_214_626_f64, 6.139_978_916_974_f64),
        ([5.0, 100.0], -0.363_516_565_268, -2.327_333_236_180),
        ([1.0, 0.0], 1.718_003_234_330, 1.051_971_101_303),
    ];
    for (y, delta_want, z_want) in cases {
        let alpha = s * (y[0] + y[1]);
        let (delta, z) = log_odds_z(y, n, alpha, alpha0);
        // The same formula, written out term by term.
        let (a, b) = (y[0] + alpha, y[1] + alpha);
        let (c, d) = (n[0] + alpha0 - a, n[1] + alpha0 - b);
        let delta_ref = (a / c).ln() - (b / d).ln();
        let z_ref = delta_ref / (1.0 / a + 1.0 / c + 1.0 / b + 1.0 / d).sqrt();
        assert!((delta - delta_ref).abs() < 1e-12 && (z - z_ref).abs() < 1e-12);
        assert!((delta - delta_want).abs() < 1e-9, "δ {delta} vs {delta_want}");
        assert!((z - z_want).abs() < 1e-9, "z {z} vs {z_want}");
    }
}

fn corpus() -> Vec<Message> {
    let mut rows = Vec::new();
    let mut n = 0;
    let mut add = |rows: &mut Vec<Message>, ch: &str, day: i64, text: &str| {
        n += 1;
        rows.push(msg(ch, n, day * DAY + 3600 + n as i64, text));
    };
    // The source channel repeats its phrase and hashtag; everyone talks about the weather.
    let verbs = ["protects", "holds", "works", "stands", "wins", "binds", "helps", "lasts", "rules", "grows"];
    for i in 0..30 {
        add(&mut rows, "src", i % 10, &format!("the kestrine accord {} us #vellum", verbs[i as usize % 10]));
        add(&mut rows, "src", i % 10, "weather is fine today and the sun shines");
    }
    for ch in ["a", "b", "c", "d"] {
        for i in 0..30 {
            add(&mut rows, ch, i % 10, "weather is fine today, rain tomorrow maybe");
        }
    }
    // Channels a and b adopt the phrase on days 3 and 6; c says "accord" alone, which is not the phrase.
    add(&mut rows, "a", 3, "they signed the kestrine accord");
    add(&mut rows, "b", 6, "Kestrine Accord now!");
    add(&mut rows, "b", 7, "kestrine accord again");
    add(&mut rows, "c", 5, "an accord was reached");
    rows
}

fn phrase_z(k: &keyness::Keyness) -> f64 {
    k.terms.iter().find(|t| t.term == "kestrine accord").unwrap().z
}

fn phrase_delta(k: &keyness::Keyness) -> f64 {
    k.terms.iter().find(|t| t.term == "kestrine accord").unwrap().log_odds_ratio
}

#[tokio::test]
async fn keyness_counts_more_distinct_words_than_the_memory_pool_holds() {
    // 600,000 distinct words (a table of 20 to 30 MB a partition) under an 8 MB pool: counted, not refused.
    let rows: Vec<Message> = (0..30_000)
        .map(|n| {
            let words: Vec<String> = (0..20).map(|k| format!("w{n}x{k}")).collect();
            msg(if n % 2 == 0 { "a" } else { "b" }, n, n as i64, &words.join(" "))
        })
        .collect();
    let ctx = session_within(&rows, 8 << 20);
    let target = Selection::parse(&["channel=a".to_owned()]).unwrap();
    let params = keyness::Params { ngrams: (1, 1), min_count: 1, ..keyness::Params::default() };
    let k = keyness::run(&ctx, &target, None, params).await.unwrap();
    assert_eq!(k.counts.distinct_words, 600_000);
    assert_eq!((k.counts.messages_target, k.counts.messages_reference), (15_000, 15_000));
}

#[tokio::test]
async fn keyness_phrases_grouped_under_a_small_memory_pool_give_the_terms_of_a_large_one() {
    // 30,000 messages of 20 words drawn from 3,000: every word reaches the minimum count, and about a million
    // distinct phrases (tens of MB to group) do not, under an 8 MB pool. Every message also says "kestrine
    // accord" on one side, a phrase that must be found.
    let mut seed = 7u64;
    let mut next = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    let mut phrases = std::collections::HashSet::new();
    let rows: Vec<Message> = (0..30_000)
        .map(|n| {
            let mut words: Vec<String> = (0..20).map(|_| format!("w{}", next() % 3000)).collect();
            if n % 3 == 0 {
                words.extend(["kestrine".to_owned(), "accord".to_owned()]);
            }
            for k in 2..=3 {
                for w in words.windows(k) {
                    phrases.insert(w.join(" "));
                }
            }
            msg(if n % 2 == 0 { "a" } else { "b" }, n, n as i64, &words.join(" "))
        })
        .collect();
    let run = |memory: usize| {
        let rows = &rows;
        async move {
            let ctx = session_within(rows, memory);
            let target = Selection::parse(&["channel=a".to_owned()]).unwrap();
            let params = keyness::Params { min_count: 2, ..keyness::Params::default() };
            keyness::run(&ctx, &target, None, params).await.unwrap()
        }
    };
    let (small, large) = (run(8 << 20).await, run(1 << 30).await);
    assert!(phrases.len() > 900_000, "{} distinct phrases", phrases.len());
    assert_eq!(small.counts.distinct_phrases, phrases.len() as u64);
    // 20 or 22 words a message: its words, its 19 or 21 pairs and 18 or 20 triples are terms.
    let uses = |n: u64, extra: u64| n * 57 + extra * 6;
    assert_eq!(small.counts.terms_target, uses(15_000, 5_000));
    assert_eq!(small.counts.terms_reference, uses(15_000, 5_000));
    let accord = small.terms.iter().find(|t| t.term == "kestrine accord").expect("the repeated phrase is scored");
    assert_eq!((accord.count_target, accord.count_reference), (5_000, 5_000));
    let key = |k: &keyness::Keyness| {
        k.terms.iter().map(|t| (t.term.clone(), t.count_target, t.count_reference, t.z.to_bits())).collect::<Vec<_>>()
    };
    assert_eq!(key(&small), key(&large));
    assert_eq!(format!("{:?}", small.counts), format!("{:?}", large.counts));
}

#[tokio::test]
async fn keyness_ranks_the_target_vocabulary_first_and_keeps_phrases_that_beat_their_parts() {
    let ctx = session(&corpus());
    let target = Selection::parse(&["channel=src"]).unwrap();
    let params = keyness::Params { min_count: 3, ..keyness::Params::default() };
    let k = keyness::run(&ctx, &target, None, params).await.unwrap();
    let top: Vec<&str> = k.terms.iter().take(5).map(|t| t.term.as_str()).collect();
    // "kestrine" occurs only inside "kestrine accord": the phrase says it, and the word is left out.
    assert!(top.contains(&"kestrine accord"), "{top:?}");
    assert!(top.contains(&"#vellum"), "{top:?}");
    assert!(!k.terms.iter().any(|t| t.term == "kestrine"));
    // "accord" also occurs alone (channel c), so it stays as a word of its own. The phrase beats it on the
    // log-odds ratio (30 to 3 against 30 to 4), though not on z: the part's larger count gives it the smaller
    // variance, as a part's always does.
    let accord = k.terms.iter().find(|t| t.term == "accord").unwrap();
    assert_eq!((accord.count_target, accord.count_reference), (30, 4));
    assert!(accord.z > phrase_z(&k) && accord.log_odds_ratio < phrase_delta(&k));
    // Stop words are never terms, and phrases never start or end with one.
    assert!(!k.terms.iter().any(|t| t.term == "the" || t.term.starts_with("the ") || t.term.ends_with(" the")));
    // A phrase that does not beat its parts is left out: "weather is fine" is used as much as its parts.
    let phrase = k.terms.iter().find(|t| t.term == "kestrine accord").unwrap();
    assert_eq!((phrase.count_target, phrase.count_reference), (30, 3));
    assert!(phrase.z > 0.0);
    // Counts add up: every message is on one side.
    assert_eq!(k.counts.messages_target, 60);
    assert_eq!(k.counts.messages_reference, 124);
    // Sorted by z, highest first; the reference's words at the bottom.
    assert!(k.terms.windows(2).all(|w| w[0].z >= w[1].z));
    let last = &k.terms.last().unwrap().term;
    assert!(last.split(' ').all(|w| ["rain", "tomorrow", "maybe"].contains(&w)), "{last}");
}

#[tokio::test]
async fn keyness_z_matches_the_formula_on_the_counted_totals() {
    let ctx = session(&corpus());
    let target = Selection::parse(&["channel=src"]).unwrap();
    let params = keyness::Params { ngrams: (1, 1), min_count: 1, stopwords: Vec::new(), prior_scale: 1.0 };
    let k = keyness::run(&ctx, &target, None, params).await.unwrap();
    let n = [k.counts.terms_target as f64, k.counts.terms_reference as f64];
    // With no stop words and single words only, the totals are the token counts.
    let tokens = |ch: fn(&str) -> bool| -> u64 {
        corpus().iter().filter(|m| ch(&m.channel_id)).map(|m| echolens_text::token_count(&m.text_norm) as u64).sum()
    };
    assert_eq!(k.counts.terms_target, tokens(|c| c == "src"));
    assert_eq!(k.counts.terms_reference, tokens(|c| c != "src"));
    for t in &k.terms {
        let y = [t.count_target as f64, t.count_reference as f64];
        let (_, z) = log_odds_z(y, n, y[0] + y[1], n[0] + n[1]);
        assert!((t.z - z).abs() < 1e-12, "{}", t.term);
    }
}

#[tokio::test]
async fn selectors_that_match_nothing_are_errors_that_say_so() {
    let ctx = session(&corpus());
    let target = Selection::parse(&["channel=nope"]).unwrap();
    let err = keyness::run(&ctx, &target, None, keyness::Params::default()).await.unwrap_err().to_string();
    assert!(err.contains("channel=nope") && err.contains("matches no message"), "{err}");
    let bad = Selection::parse(&["where=no_such_column = 1"]).unwrap();
    let err = keyness::run(&ctx, &bad, None, keyness::Params::default()).await.unwrap_err().to_string();
    assert!(err.contains("not valid"), "{err}");
    // A time selector and a channel combine with AND; two channels with OR.
    let sel = Selection::parse(&["channel=a", "channel=name_b", "since=2024-03-04", "until=2024-03-05"]).unwrap();
    let n = sel.count(&ctx, "test").await.unwrap();
    let want = corpus()
        .iter()
        .filter(|m| ["a", "b"].contains(&m.channel_id.as_str()))
        .filter(|m| (3 * DAY..5 * DAY).contains(&(m.ts / S - T0)))
        .count();
    assert_eq!(n, want as u64);
    // An explicit reference.
    let reference = Selection::parse(&["channel=a"]).unwrap();
    let k = keyness::run(
        &ctx,
        &Selection::parse(&["channel=src"]).unwrap(),
        Some(&reference),
        keyness::Params { min_count: 1, ..keyness::Params::default() },
    )
    .await
    .unwrap();
    assert_eq!(k.counts.messages_reference, 31);
}

#[tokio::test]
async fn diffusion_finds_first_uses_and_the_adoption_curve() {
    let mut rows = corpus();
    // Channel d renamed itself on day 9: its latest name is the one reported, whichever partition saw what.
    let mut renamed = msg("d", 9999, 9 * DAY + 7200, "weather again");
    renamed.channel_name = Some("d_renamed".into());
    rows.insert(0, renamed);
    let ctx = session(&rows);
    let terms = Terms::new(vec!["Kestrine Accord".into(), "#vellum".into()]).unwrap();
    let d = diffusion::run(&ctx, terms, &Selection::default()).await.unwrap();
    let by_id = |id: &str| d.channels.iter().find(|c| c.channel_id == id).unwrap();
    // src used it first (day 0), then a on day 3 and b on day 6; c's lone "accord" is not the phrase.
    assert_eq!(d.channels[0].channel_id, "src");
    assert_eq!(by_id("a").first_use.map(|t| (t / S - T0) / DAY), Some(3));
    assert_eq!(by_id("b").first_use.map(|t| (t / S - T0) / DAY), Some(6));
    assert_eq!(by_id("b").uses, 2);
    assert_eq!(by_id("c").uses, 0);
    assert_eq!(by_id("src").uses, 30);
    assert_eq!(by_id("src").messages, 60);
    assert_eq!(by_id("d").channel_name, "d_renamed");
    assert_eq!(by_id("d").messages, 31);
    // The curve of any term: 1 channel from day 0, 2 from day 3, 3 from day 6, out of 5.
    let any: Vec<(i64, u64)> =
        d.curve.iter().filter(|p| p.term == "*").map(|p| (p.day - T0 / DAY, p.channels)).collect();
    assert_eq!(any.first(), Some(&(0, 1)));
    assert_eq!(any.iter().find(|p| p.0 == 3).unwrap().1, 2);
    assert_eq!(any.iter().find(|p| p.0 == 5).unwrap().1, 2);
    assert_eq!(any.iter().find(|p| p.0 == 6).unwrap().1, 3);
    assert_eq!(any.last().unwrap().1, 3);
    // Per term: #vellum never left src.
    let vellum = d.summary.iter().find(|s| s.term == "#vellum").unwrap();
    assert_eq!((vellum.channels, vellum.sources.clone()), (1, vec!["name_src".to_owned()]));
    let accord = d.summary.iter().find(|s| s.term == "Kestrine Accord").unwrap();
    assert_eq!(accord.channels, 3);
    assert_eq!(accord.uses, 33);
    // The files.
    let dir = tempfile::tempdir().unwrap();
    diffusion::write_outputs(&d, dir.path(), crate::TableFormat::Csv, serde_json::json!({})).unwrap();
    let adoption = std::fs::read_to_string(dir.path().join("adoption.csv")).unwrap();
    assert!(adoption.starts_with("channel_id,channel_name,first_use,uses,messages,share"), "{adoption}");
    assert!(adoption.lines().nth(1).unwrap().starts_with("src,name_src,2024-03-01T01:00:01Z,30,60,0.500000"));
}

#[tokio::test]
async fn diffusion_names_each_channel_by_its_latest_named_message() {
    let mut rows = Vec::new();
    // e: named "old" then "new"; its latest message has no name, which does not erase the name.
    for (n, (secs, name)) in [(0, Some("old")), (60, Some("new")), (120, None)].into_iter().enumerate() {
        let mut m = msg("e", n, secs, "the kestrine accord");
        m.channel_name = name.map(str::to_owned);
        rows.push(m);
    }
    // f: two names at the same time; the greater is the one kept, whichever partition holds which.
    for (n, name) in ["alpha", "beta"].into_iter().enumerate() {
        let mut m = msg("f", 10 + n, 30, "nothing here");
        m.channel_name = Some(name.to_owned());
        rows.push(m);
    }
    // g: never named; it used the term first, so its id is the source.
    let mut m = msg("g", 20, -60, "kestrine accord first");
    m.channel_name = None;
    rows.push(m);
    for order in [rows.clone(), rows.iter().rev().cloned().collect()] {
        let ctx = session(&order);
        let terms = Terms::new(vec!["Kestrine Accord".into()]).unwrap();
        let d = diffusion::run(&ctx, terms, &Selection::default()).await.unwrap();
        let by_id = |id: &str| d.channels.iter().find(|c| c.channel_id == id).unwrap();
        assert_eq!(d.channels.len(), 3);
        assert_eq!((by_id("e").channel_name.as_str(), by_id("e").messages, by_id("e").uses), ("new", 3, 3));
        assert_eq!((by_id("f").channel_name.as_str(), by_id("f").messages, by_id("f").uses), ("beta", 2, 0));
        assert_eq!((by_id("g").channel_name.as_str(), by_id("g").uses), ("", 1));
        // Adopters first by first use (g, then e), then the others.
        let ids: Vec<&str> = d.channels.iter().map(|c| c.channel_id.as_str()).collect();
        assert_eq!(ids, ["g", "e", "f"]);
        assert_eq!(d.summary[0].sources, ["g"]);
        assert_eq!((d.messages, d.adopters), (6, 2));
    }
}

#[tokio::test]
async fn diffusion_breaks_a_tie_in_time_by_key_and_counts_days_before_1970_as_their_own() {
    // h: two messages at one time; "telegram:h:10" sorts before "telegram:h:9", so the first use is message 10,
    // which used "beta" only: the channel's first term is beta, alpha's own first use is message 9.
    let mut rows = vec![msg("h", 9, 100, "alpha and beta"), msg("h", 10, 100, "only beta"), msg("h", 11, 50, "none")];
    // k: one second before 1970 (day -1), then a day later.
    for (n, secs) in [(1, -T0 - 1), (2, -T0 + DAY - 1)] {
        rows.push(msg("k", n, secs, "alpha"));
    }
    for order in [rows.clone(), rows.iter().rev().cloned().collect()] {
        let ctx = session(&order);
        let terms = Terms::new(vec!["alpha".into(), "beta".into()]).unwrap();
        let d = diffusion::run(&ctx, terms, &Selection::default()).await.unwrap();
        let h = d.channels.iter().find(|c| c.channel_id == "h").unwrap();
        assert_eq!(
            (h.first_key.as_deref(), h.first_term.as_deref(), h.uses, h.messages),
            (Some("telegram:h:10"), Some("beta"), 2, 3)
        );
        let alpha_h = d.term_adoption.iter().find(|a| a.term == 0 && d.channels[a.channel].channel_id == "h").unwrap();
        assert_eq!(alpha_h.first_key, "telegram:h:9");
        let any: Vec<(i64, u64, u64)> =
            d.curve.iter().filter(|p| p.term == "*").map(|p| (p.day, p.channels, p.uses)).take(3).collect();
        assert_eq!(any, [(-1, 1, 1), (0, 1, 1), (1, 1, 0)]);
        assert_eq!(d.curve.iter().rfind(|p| p.term == "*").map(|p| (p.channels, p.uses)), Some((2, 2)));
    }
}

#[tokio::test]
async fn timeline_counts_lexicon_rates_and_flags_bursts() {
    let mut rows = Vec::new();
    // Ten quiet days of 2 messages in channel q, then a day of 20, half of them threats.
    for day in 0..10 {
        for k in 0..2 {
            rows.push(msg("q", rows.len(), day * DAY + k * 60, "a quiet day"));
        }
    }
    for k in 0..20 {
        let text = if k % 2 == 0 { "Death to them" } else { "a loud day" };
        rows.push(msg("q", rows.len(), 10 * DAY + k * 60, text));
    }
    // Channel r posts once on day 2 and once on day 12 (days between are zeros).
    rows.push(msg("r", rows.len(), 2 * DAY, "مرگ بر دیکتاتور"));
    rows.push(msg("r", rows.len(), 12 * DAY, "hello"));
    let ctx = session(&rows);
    let lexicon = Lexicon::new(vec![("threat".into(), vec!["death to".into(), "مرگ بر".into()])]).unwrap();
    let t =
        timeline::run(&ctx, &Selection::default(), Some(lexicon), timeline::Params::new(Period::Day, Group::Channel))
            .await
            .unwrap();
    assert_eq!(t.messages, rows.len() as u64);
    let q: Vec<&timeline::Row> = t.rows.iter().filter(|r| r.group == "telegram:q").collect();
    assert_eq!(q.len(), 11);
    assert_eq!(q[10].messages, 20);
    assert_eq!(q[10].categories, [10]);
    assert!(q[10].scores[0].burst, "20 after 2 a day is a burst");
    assert!(q[..10].iter().all(|r| !r.scores[0].burst));
    let r: Vec<&timeline::Row> = t.rows.iter().filter(|r| r.group == "telegram:r").collect();
    assert_eq!(r.len(), 11, "days 2..=12, zeros filled");
    assert_eq!(r[0].categories, [1], "Persian slogan matched");
    assert!(r.iter().all(|r| !r.scores[0].burst), "one message is never a burst");
    // Weeks, all channels together.
    let w = timeline::run(&ctx, &Selection::default(), None, timeline::Params::new(Period::Week, Group::All))
        .await
        .unwrap();
    assert_eq!(w.rows.iter().map(|r| r.messages).sum::<u64>(), rows.len() as u64);
    // 2024-03-01 is a Friday: its week starts on Monday 2024-02-26.
    assert_eq!(super::day_string(w.rows[0].period), "2024-02-26");
}

/// A series whose messages are decades apart is not filled day by day: after each busy day come the burst
/// window's empty days, then the next busy day, with the scores a full fill gives.
#[tokio::test]
async fn a_timeline_over_decades_stays_bounded_by_the_data() {
    let mut rows = Vec::new();
    for k in 0..6 {
        rows.push(msg("q", rows.len(), -30 * 365 * DAY + k * DAY, "then"));
    }
    for k in 0..12 {
        rows.push(msg("q", rows.len(), k * DAY / 2, "now"));
    }
    let ctx = session(&rows);
    let params = timeline::Params::new(Period::Day, Group::Channel);
    let t = timeline::run(&ctx, &Selection::default(), None, params.clone()).await.unwrap();
    // Six busy days, seven empty ones, six more busy days.
    assert_eq!(t.rows.len(), 6 + 7 + 6, "{:?}", t.rows.iter().map(|r| r.period).collect::<Vec<_>>());
    assert_eq!(t.rows.iter().map(|r| r.messages).sum::<u64>(), 18);
    let gap = t.rows[13].period - t.rows[12].period;
    assert!(gap > 10_000, "the quiet decades are skipped ({gap} days)");
    // The first busy day after the gap is scored against seven zeros, as in a full fill.
    assert_eq!(t.rows[13].scores[0].baseline, 0.0);
    assert!(t.rows[13].scores[0].z > 0.0);
}

/// A streamed timeline hands each series over once, whole, in series order, with the rows [`timeline::run`]
/// collects; its writer's tables and summary are those of the collected timeline.
#[tokio::test]
async fn a_streamed_timeline_hands_over_whole_series_in_order() {
    let mut rows = Vec::new();
    // Forty channels of one message a day; every third has a busy day at the end, a burst.
    for c in 0..40 {
        let busy = if c % 3 == 0 { 15 } else { 1 };
        for day in (c % 4..10).chain(std::iter::repeat_n(11, busy)) {
            let text = if day % 2 == 0 { "death to them, they say" } else { "a quiet day" };
            rows.push(msg(&format!("c{c:02}"), rows.len(), day as i64 * DAY + rows.len() as i64, text));
        }
    }
    let ctx = session(&rows);
    let lexicon = || Some(Lexicon::new(vec![("threat".into(), vec!["death to".into()])]).unwrap());
    let params = timeline::Params::new(Period::Day, Group::Channel);
    let collected = timeline::run(&ctx, &Selection::default(), lexicon(), params.clone()).await.unwrap();
    let mut handed: Vec<Vec<timeline::Row>> = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let mut writer = timeline::Writer::create(dir.path(), crate::TableFormat::Csv, &["threat".to_owned()]).unwrap();
    let streamed = timeline::stream(&ctx, &Selection::default(), lexicon(), params, |series| {
        writer.push(&series)?;
        handed.push(series);
        Ok(())
    })
    .await
    .unwrap();
    assert!(streamed.rows.is_empty());
    assert_eq!(streamed.messages, collected.messages);
    assert_eq!(handed.len(), 40, "one call per channel");
    for series in &handed {
        assert!(series.iter().all(|r| r.group == series[0].group), "one series per call");
        assert!(series.windows(2).all(|w| w[0].period < w[1].period), "by period");
    }
    assert!(handed.windows(2).all(|w| w[0][0].group < w[1][0].group), "series in order, each once");
    let flat: Vec<String> = handed.iter().flatten().map(|r| format!("{r:?}")).collect();
    assert_eq!(flat, collected.rows.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>());
    let written = writer.finish(&streamed, serde_json::json!({})).unwrap();
    let whole = tempfile::tempdir().unwrap();
    let expected =
        timeline::write_outputs(&collected, whole.path(), crate::TableFormat::Csv, serde_json::json!({})).unwrap();
    for file in ["timeline.csv", "lexicon.csv"] {
        let (a, b) = (std::fs::read(whole.path().join(file)).unwrap(), std::fs::read(dir.path().join(file)).unwrap());
        assert!(a.len() > 1000 && a == b, "{file}");
    }
    assert_eq!(written.summary, expected.summary);
    assert!(written.summary["bursts_total"].as_u64().unwrap() > 0, "the summary lists bursts");
}

/// Days in a time zone: a message at 21:00 UTC on March 1st is on March 2nd in Tehran (UTC+3:30).
#[tokio::test]
async fn a_timeline_in_a_time_zone_bins_local_days() {
    let rows = vec![msg("q", 0, 10 * 3600, "morning"), msg("q", 1, 21 * 3600, "night")];
    let ctx = session(&rows);
    let utc =
        timeline::run(&ctx, &Selection::default(), None, timeline::Params::new(Period::Day, Group::All)).await.unwrap();
    assert_eq!(
        utc.rows.iter().map(|r| (super::day_string(r.period), r.messages)).collect::<Vec<_>>(),
        [("2024-03-01".to_owned(), 2)]
    );
    let params = timeline::Params { time_zone: "Asia/Tehran".into(), ..timeline::Params::new(Period::Day, Group::All) };
    let tehran = timeline::run(&ctx, &Selection::default(), None, params).await.unwrap();
    let days: Vec<(String, u64)> = tehran.rows.iter().map(|r| (super::day_string(r.period), r.messages)).collect();
    assert_eq!(days, [("2024-03-01".to_owned(), 1), ("2024-03-02".to_owned(), 1)]);
    assert!(tehran.params.burst_method().ends_with("days in Asia/Tehran"));
    let bad = timeline::Params { time_zone: "Mars/Olympus".into(), ..timeline::Params::new(Period::Day, Group::All) };
    assert!(timeline::run(&ctx, &Selection::default(), None, bad).await.is_err());
}

/// Keyness by channel: each channel's own word comes first in its group, in one pass; by week, each week's.
#[tokio::test]
async fn keyness_by_group_finds_each_groups_own_words() {
    let mut rows = Vec::new();
    for (c, own) in [("a", "zorblat"), ("b", "vellumark"), ("c", "kestrine")] {
        for k in 0..30 {
            let day = if c == "a" { 0 } else { 8 }; // a posts in one week, b and c in the next
            rows.push(msg(c, rows.len(), day * DAY + k as i64 * 60, &format!("{own} news today people {k}")));
        }
    }
    let ctx = session(&rows);
    let params = keyness::Params { min_count: 5, ..keyness::Params::default() };
    let k =
        super::keyness_by::run(&ctx, &Selection::default(), super::keyness_by::By::Channel, "UTC", params.clone(), 3)
            .await
            .unwrap();
    assert_eq!(k.groups, 3);
    let firsts: Vec<(&str, &str)> =
        k.terms.iter().filter(|t| t.rank == 1).map(|t| (t.group.as_str(), t.term.as_str())).collect();
    assert_eq!(
        firsts,
        [("telegram:name_a", "zorblat"), ("telegram:name_b", "vellumark"), ("telegram:name_c", "kestrine")]
    );
    assert!(k.terms.iter().all(|t| t.rank <= 3));
    let first = &k.terms[0];
    assert_eq!((first.count_group, first.count_rest), (30, 0));
    // The same statistic as keyness of that channel against the rest, for words.
    let one = keyness::run(
        &ctx,
        &Selection::parse(&["channel=a"]).unwrap(),
        None,
        keyness::Params { ngrams: (1, 1), ..params.clone() },
    )
    .await
    .unwrap();
    let z = one.terms.iter().find(|t| t.term == "zorblat").unwrap().z;
    assert!((z - first.z).abs() < 1e-9, "{z} against {}", first.z);
    let weeks = super::keyness_by::run(&ctx, &Selection::default(), super::keyness_by::By::Week, "UTC", params, 2)
        .await
        .unwrap();
    let groups: std::collections::BTreeSet<&str> = weeks.terms.iter().map(|t| t.group.as_str()).collect();
    // 2024-03-01 is a Friday: its week starts on Monday 2024-02-26; a week later, 2024-03-04.
    assert_eq!(groups.into_iter().collect::<Vec<_>>(), ["2024-02-26", "2024-03-04"]);
}

#[test]
fn term_files_keep_hashtags_and_skip_comments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("terms.txt");
    std::fs::write(&path, "# planted terms\n\n#vellum\nKestrine  Accord\n  مرگ بر  \n").unwrap();
    let terms = Terms::from_file(&path).unwrap();
    assert_eq!(terms.terms, ["#vellum", "Kestrine  Accord", "مرگ بر"]);
    let matcher = diffusion::Matcher::new(vec![terms]).unwrap();
    let mut found = Vec::new();
    matcher.matches(&echolens_text::normalize("the KESTRINE accord, #vellum! مرگ بر"), &mut found);
    assert_eq!(found, [vec![0, 1, 2]]);
    matcher.matches("kestrine. accord", &mut found);
    assert_eq!(found, [Vec::<u32>::new()], "a phrase does not span clauses");
    std::fs::write(&path, "ok\n!!!\n").unwrap();
    let err = Terms::from_file(&path).unwrap_err().to_string();
    assert!(err.contains("term 2") && err.contains("no word"), "{err}");
}

#[tokio::test]
async fn several_term_sets_in_one_scan_give_what_one_scan_each_gives() {
    let ctx = session(&corpus());
    let sets = [
        vec!["Kestrine Accord".to_owned(), "#vellum".to_owned()],
        // A first word another set's term starts with.
        vec!["weather".to_owned(), "kestrine".to_owned()],
        vec!["accord".to_owned()],
    ];
    let together =
        diffusion::run_many(&ctx, sets.iter().map(|t| Terms::new(t.clone()).unwrap()).collect(), &Selection::default())
            .await
            .unwrap();
    assert_eq!(together.len(), sets.len());
    for (set, d) in sets.iter().zip(&together) {
        let alone = diffusion::run(&ctx, Terms::new(set.clone()).unwrap(), &Selection::default()).await.unwrap();
        assert_eq!(serde_json::to_value(&alone.summary).unwrap(), serde_json::to_value(&d.summary).unwrap());
        assert_eq!(serde_json::to_value(&alone.curve).unwrap(), serde_json::to_value(&d.curve).unwrap());
        assert_eq!(serde_json::to_value(&alone.channels).unwrap(), serde_json::to_value(&d.channels).unwrap());
        assert_eq!(alone.messages, d.messages);
        assert!(d.summary[0].uses > 0, "{set:?} is used");
    }
}

/// The terms of `set` that `text` uses, found the slow way: every term against every position of every phrase.
fn used_by_brute_force(set: &[String], text: &str) -> Vec<u32> {
    let mut runs: Vec<Vec<String>> = Vec::new();
    echolens_text::phrases(text, |run| runs.push(run.iter().map(|w| w.to_string()).collect()));
    let mut used = Vec::new();
    for (t, term) in set.iter().enumerate() {
        let words: Vec<String> = echolens_text::tokens(&echolens_text::normalize(term)).map(str::to_owned).collect();
        if runs.iter().any(|run| run.windows(words.len()).any(|w| w == words.as_slice())) {
            used.push(t as u32);
        }
    }
    used
}

const MATCHER_WORDS: [&str; 7] = ["ab", "a", "b", "abc", "مردم", "می\u{200C}شود", "#ab"];

proptest::proptest! {
    /// One matcher for several sets finds, in each set, the terms a brute-force search finds: first words shared
    /// between sets and within one, words that are substrings of others, clause breaks.
    #[test]
    fn one_matcher_finds_what_brute_force_finds(
        text in proptest::collection::vec(
            proptest::sample::select([&MATCHER_WORDS[..], &[",", ".", "\n", "https://ab.org/a"]].concat()), 0..16),
        sets in proptest::collection::vec(
            proptest::collection::vec(proptest::collection::vec(proptest::sample::select(&MATCHER_WORDS[..]), 1..4), 1..5),
            1..4),
    ) {
        let text = echolens_text::normalize(&text.join(" "));
        let sets: Vec<Vec<String>> = sets.into_iter().map(|set| set.into_iter().map(|t| t.join(" ")).collect()).collect();
        let terms: Vec<Terms> = sets.iter().map(|set| Terms::new(set.clone()).unwrap()).collect();
        let matcher = diffusion::Matcher::new(terms).unwrap();
        let mut found = Vec::new();
        matcher.matches(&text, &mut found);
        let expected: Vec<Vec<u32>> = sets.iter().map(|set| used_by_brute_force(set, &text)).collect();
        proptest::prop_assert_eq!(found, expected, "{:?}", text);
    }
}

#[tokio::test]
async fn dropping_the_rows_keeps_the_counts_and_refuses_the_tables() {
    let ctx = session(&corpus());
    let mut d = diffusion::run(
        &ctx,
        Terms::new(vec!["Kestrine Accord".into(), "weather".into()]).unwrap(),
        &Selection::default(),
    )
    .await
    .unwrap();
    let summary = d.summary();
    assert!(d.adopters > 0, "the terms are used");
    assert_eq!(d.channel_count as usize, d.channels.len());
    assert_eq!(d.adopters as usize, d.channels.iter().filter(|c| c.uses > 0).count());
    d.drop_rows();
    assert_eq!(d.summary(), summary, "the counts stay");
    assert!(d.channels.is_empty() && d.term_adoption.is_empty() && !d.curve.is_empty());
    assert!(d.tables().is_err(), "no tables without their rows");
}

/// The tables written as their rows are made are the tables made whole, byte for byte.
#[tokio::test]
async fn diffusion_tables_written_as_made_equal_the_tables_made_whole() {
    let mut rows = Vec::new();
    for c in 0..40i64 {
        for n in 0..5usize {
            let text =
                if (c as usize + n).is_multiple_of(3) { "the kestrine accord, said \"they\"" } else { "nothing, here" };
            rows.push(msg(&format!("c{c}"), n, c * 100 + n as i64, text));
        }
    }
    let ctx = session(&rows);
    let terms = Terms::new(vec!["Kestrine Accord".into(), "said".into()]).unwrap();
    let d = diffusion::run(&ctx, terms, &Selection::default()).await.unwrap();
    let (streamed, whole) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    diffusion::write_outputs(&d, streamed.path(), crate::TableFormat::Csv, serde_json::json!({})).unwrap();
    crate::write_tables(&d.tables().unwrap(), whole.path(), crate::TableFormat::Csv).unwrap();
    for name in ["adoption.csv", "term_adoption.csv", "curve.csv"] {
        let read = |dir: &tempfile::TempDir| std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(read(&whole).lines().count() > 2, "{name} has rows");
        assert_eq!(read(&streamed), read(&whole), "{name}");
    }
}

/// Rows pseudonymised as they stream into the tables ([`diffusion::Counted::rows`] with pseudonyms, as `analyze`
/// writes them) give the tables and summary of the held result pseudonymised whole: personal channels in the
/// rows, the first users the summary names and the terms alike. A tie in first use among personal and public
/// channels is ordered by the stored keys, not the shown ones.
#[tokio::test]
async fn diffusion_rows_pseudonymised_as_they_stream_equal_the_held_result_pseudonymised() {
    let mut rows = Vec::new();
    for c in 0..30i64 {
        for n in 0..4usize {
            // Channels 0, 10 and 20 first use the term at the same second; the others later.
            let secs = if c % 10 == 0 && n == 0 { 0 } else { c * 100 + n as i64 + 1 };
            let text =
                if (c as usize + n).is_multiple_of(2) { "the kestrine accord by @handle_x" } else { "weather, here" };
            rows.push(msg(&format!("c{c}"), n, secs, text));
        }
    }
    let ctx = session(&rows);
    let personal = ["c0", "c7", "c20"].map(|c| ("telegram".to_owned(), c.to_owned(), Some(format!("name_{c}"))));
    let p = crate::Pseudonyms::new([7; 32], personal);
    let sets = || vec![Terms::new(vec!["Kestrine Accord".into(), "weather".into(), "@handle_x".into()]).unwrap()];
    let mut held = diffusion::run_many(&ctx, sets(), &Selection::default()).await.unwrap().pop().unwrap();
    p.diffusion(&mut held);
    let (streamed_dir, held_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    diffusion::write_outputs(&held, held_dir.path(), crate::TableFormat::Csv, serde_json::json!({})).unwrap();
    let counted = diffusion::count(&ctx, sets(), &Selection::default()).await.unwrap();
    let mut writer = diffusion::Writer::create(streamed_dir.path(), crate::TableFormat::Csv).unwrap();
    let streamed = counted.rows(0, Some(&p), &mut writer).await.unwrap();
    writer.finish(&streamed, serde_json::json!({})).unwrap();
    assert!(streamed.channels.is_empty() && streamed.term_adoption.is_empty(), "the rows went to the tables");
    assert_eq!(streamed.summary(), held.summary());
    let shown = p.channel_id("telegram", "c0");
    assert_ne!(shown, "c0");
    assert!(held.summary[0].sources.contains(&shown), "{:?}", held.summary[0].sources);
    for name in ["adoption.csv", "term_adoption.csv", "curve.csv"] {
        let read = |dir: &tempfile::TempDir| std::fs::read_to_string(dir.path().join(name)).unwrap();
        if name != "curve.csv" {
            assert!(!read(&held_dir).contains("name_c7") && read(&held_dir).contains("name_c8"), "{name}");
        }
        assert_eq!(read(&streamed_dir), read(&held_dir), "{name}");
    }
}

#[test]
fn terms_from_keyness_read_its_folder_and_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let terms = dir.path().join("terms.csv");
    std::fs::write(&terms, "term,z,count_target\nkestrine accord,9.5,30\n#vellum,4.0,12\nthe,-2.0,900\n").unwrap();
    assert_eq!(Terms::from_keyness(dir.path(), 5).unwrap().terms, ["kestrine accord", "#vellum"]);
    assert_eq!(Terms::from_keyness(dir.path(), 1).unwrap().terms, ["kestrine accord"]);
    let file = Terms::from_keyness(&terms, 5).err().unwrap().to_string();
    assert!(file.contains("expected the output folder of a keyness run"), "{file}");
    let empty = tempfile::tempdir().unwrap();
    let missing = Terms::from_keyness(empty.path(), 5).err().unwrap().to_string();
    assert!(missing.starts_with("reading ") && missing.contains("terms.csv"), "{missing}");
    std::fs::write(&terms, "word,score\na,1\n").unwrap();
    let columns = Terms::from_keyness(dir.path(), 5).err().unwrap().to_string();
    assert!(columns.contains("expected the columns term and z"), "{columns}");
}
