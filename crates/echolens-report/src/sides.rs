//! The "Sides compared" section: one small chart per measure with a bar per side (the same scale within a
//! chart), each with its denominator; "no data" where a side has none; the messages behind each figure in a
//! list a click away.

use std::fmt::Write;

use echolens_analysis::compare::{Compare, SideRow};

use crate::html::{esc, n, plain};
use crate::svg::{LineChart, PALETTE, Series, XAxis, line_chart};
use crate::{Caps, minute_of};

/// One measure: its title, its unit, and per side the value (`None`: no data) and the denominator's words.
struct Measure {
    title: String,
    values: Vec<(Option<f64>, String)>,
    percent: bool,
}

fn fmt(v: f64, percent: bool) -> String {
    if percent {
        format!("{:.1}%", 100.0 * v)
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        n(v as u64)
    } else {
        format!("{v:.1}")
    }
}

/// A small horizontal bar chart: one bar per side on one scale, its value beside it, "no data" without one.
fn small_chart(m: &Measure, sides: &[SideRow]) -> String {
    const W: f64 = 330.0;
    const LABEL: f64 = 90.0;
    const ROW: f64 = 22.0;
    let h = 10.0 + ROW * sides.len() as f64;
    let max = m.values.iter().filter_map(|(v, _)| *v).fold(0.0f64, f64::max).max(1e-12);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" viewBox=\"0 0 {W} {h}\" role=\"img\" aria-label=\"{t}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>",
        t = plain(&m.title)
    );
    for (i, (side, (value, _))) in sides.iter().zip(&m.values).enumerate() {
        let y = 6.0 + ROW * i as f64;
        let _ = write!(
            svg,
            "<text class=\"label\" x=\"0\" y=\"{:.1}\">{}</text>",
            y + 13.0,
            plain(&crate::html::cut(&side.side, 14))
        );
        match value {
            Some(v) => {
                let width = (W - LABEL - 70.0) * (v / max).clamp(0.0, 1.0);
                let _ = write!(
                    svg,
                    "<rect x=\"{LABEL}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"14\" fill=\"{}\"/>\
                     <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                    PALETTE[i % PALETTE.len()],
                    LABEL + width + 4.0,
                    y + 12.0,
                    plain(&fmt(*v, m.percent))
                );
            }
            None => {
                let _ = write!(svg, "<text class=\"tick\" x=\"{LABEL}\" y=\"{:.1}\">no data</text>", y + 12.0);
            }
        }
    }
    svg.push_str("</svg>");
    let mut out = String::new();
    let _ = write!(
        out,
        "<figure class=\"small\"><figcaption><b>{}</b></figcaption>{svg}<p class=\"muted\">",
        esc(&m.title)
    );
    let notes: Vec<String> = sides
        .iter()
        .zip(&m.values)
        .filter(|(_, (_, d))| !d.is_empty())
        .map(|(s, (_, d))| format!("{}: {}", esc(&s.side), esc(d)))
        .collect();
    out.push_str(&notes.join("; "));
    out.push_str("</p></figure>");
    out
}

fn measures(c: &Compare) -> Vec<Measure> {
    let s = &c.sides;
    let share = |x: u64, of: u64| if of == 0 { None } else { Some(x as f64 / of as f64) };
    let mut out = vec![
        Measure {
            title: "Messages".into(),
            values: s
                .iter()
                .map(|r| {
                    (Some(r.messages as f64), format!("{:.1}% of {}", 100.0 * r.share_of_corpus, n(c.corpus_messages)))
                })
                .collect(),
            percent: false,
        },
        Measure {
            title: "Channels".into(),
            values: s.iter().map(|r| (Some(r.channels as f64), r.platforms.join(", "))).collect(),
            percent: false,
        },
        Measure {
            title: "Accounts".into(),
            values: s.iter().map(|r| (Some(r.accounts as f64), String::new())).collect(),
            percent: false,
        },
        Measure {
            title: "Messages per active day".into(),
            values: s
                .iter()
                .map(|r| (share(r.messages, r.active_days), format!("over {} days", r.active_days)))
                .collect(),
            percent: false,
        },
        Measure {
            title: "Channels outside that took up the side's own terms".into(),
            values: s
                .iter()
                .map(|r| {
                    let words = match r.vocabulary_adopters {
                        Some(_) => format!("{} own terms of {} marking it", r.introduced_terms, r.significant_terms),
                        None if r.significant_terms == 0 => "no term marks it".into(),
                        None => format!("none of its {} marking terms is its own", r.significant_terms),
                    };
                    (r.vocabulary_adopters.map(|v| v as f64), words)
                })
                .collect(),
            percent: false,
        },
        Measure {
            title: "Copies of its content outside it".into(),
            values: s
                .iter()
                .map(|r| {
                    (
                        Some(r.copies_elsewhere as f64),
                        format!("{} cascades begun, {} channels reached", r.cascades_originated, r.channels_reached),
                    )
                })
                .collect(),
            percent: false,
        },
        Measure {
            title: "Its copies of content begun elsewhere".into(),
            values: s.iter().map(|r| (Some(r.copies_from_others as f64), String::new())).collect(),
            percent: false,
        },
        Measure {
            title: "Accounts in coordination clusters".into(),
            values: s
                .iter()
                .map(|r| {
                    (
                        r.clustered_account_share,
                        format!(
                            "{} of {} accounts, {} messages",
                            r.accounts_in_clusters,
                            r.accounts,
                            n(r.messages_by_clustered_accounts)
                        ),
                    )
                })
                .collect(),
            percent: true,
        },
        Measure {
            title: "Messages in coordinated actions".into(),
            values: s
                .iter()
                .map(|r| {
                    (
                        share(r.messages_in_coordinated_actions, r.messages),
                        format!("{} of {} messages", n(r.messages_in_coordinated_actions), n(r.messages)),
                    )
                })
                .collect(),
            percent: true,
        },
    ];
    // Reach: per platform and figure that any side has, the median per message, with how many state it.
    let mut keys: Vec<(String, String)> =
        c.reach.iter().filter(|r| r.with_figure > 0).map(|r| (r.platform.clone(), r.measure.clone())).collect();
    keys.sort();
    keys.dedup();
    for (platform, measure) in keys {
        let values = s
            .iter()
            .map(|side| {
                match c.reach.iter().find(|r| r.side == side.side && r.platform == platform && r.measure == measure) {
                    Some(r) if r.with_figure > 0 => (
                        r.median_per_message,
                        format!(
                            "{} of {} messages state it, {} in all",
                            n(r.with_figure),
                            n(r.messages),
                            fmt(r.total.unwrap_or(0.0), false)
                        ),
                    ),
                    Some(r) => (None, format!("none of {} messages states it", n(r.messages))),
                    None => (None, format!("no message on {platform}")),
                }
            })
            .collect();
        out.push(Measure { title: format!("{platform} {measure}, median per message"), values, percent: false });
    }
    out
}

/// The section.
pub(crate) fn section(out: &mut String, c: &Compare, caps: &Caps) {
    out.push_str("<section id=\"sides\"><h2>Sides compared</h2>");
    let _ = write!(
        out,
        "<p>{} messages in the period compared; each side is what its selectors hold.{}</p><ul>",
        n(c.corpus_messages),
        if c.overlap_messages > 0 {
            format!(" {} messages are on more than one side and count for each.", n(c.overlap_messages))
        } else {
            String::new()
        }
    );
    for s in &c.sides {
        let _ = write!(out, "<li><b>{}</b>: <code>{}</code></li>", esc(&s.side), esc(&s.selection));
    }
    out.push_str("</ul>");
    let p = &c.params;
    let _ = write!(
        out,
        "<p class=\"params\">A side's own terms: keyness against the other sides at z ≥ {} that the side used alone \
         for at least {} h before any channel outside it; an adopter uses one in {}+ messages after the side first \
         did ({} strongest own terms followed). Copies: reuse cascades begun on the side, copied outside it. \
         Coordination: the side's accounts in the clusters of the coordination analysis on the same messages. \
         Reach: only what the exports state, per platform, never added up across platforms. Days and hours in {}.</p>",
        p.min_z,
        p.lead_s / 3600,
        p.min_adopter_uses,
        p.top_terms,
        esc(&p.time_zone)
    );
    out.push_str("<div class=\"multiples\">");
    for m in measures(c) {
        out.push_str(&small_chart(&m, &c.sides));
    }
    out.push_str("</div>");
    // Share of the corpus per day, one line per side.
    let series: Vec<Series> = c
        .sides
        .iter()
        .map(|s| Series {
            name: s.side.clone(),
            points: c
                .days
                .iter()
                .filter(|d| d.side == s.side && d.corpus > 0)
                .map(|d| (d.day as f64, 100.0 * d.messages as f64 / d.corpus as f64))
                .collect(),
        })
        .collect();
    out.push_str(&line_chart(&LineChart {
        title: "Each side's share of the corpus's messages per day",
        x: XAxis::Days,
        x_label: "day",
        y_label: "% of the day's messages",
        series: &series,
        marks: &[],
    }));
    for note in &c.notes {
        let _ = write!(out, "<p class=\"muted\">{}</p>", esc(note));
    }
    evidence(out, c, caps);
    out.push_str("</section>");
}

/// The messages behind the figures: adoptions, copies, coordination evidence, per side.
fn evidence(out: &mut String, c: &Compare, caps: &Caps) {
    for s in &c.sides {
        let _ = write!(out, "<details><summary>The messages behind side {}'s figures</summary>", esc(&s.side));
        let adopters: Vec<_> = c.adopters.iter().filter(|a| a.side == s.side).collect();
        if !adopters.is_empty() {
            out.push_str(
                "<h3>Adoptions of its own terms</h3><table><tr><th>term</th><th>channel</th><th>first use</th>\
                 <th class=\"num\">days after the side</th><th>message</th></tr>",
            );
            for a in adopters.iter().take(caps.cascade_rows) {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{:.1}</td><td><code>{}</code></td></tr>",
                    esc(&a.term),
                    esc(&a.channel_name),
                    esc(&minute_of(a.first_use)),
                    a.days_after,
                    esc(&a.first_key)
                );
            }
            out.push_str("</table>");
        }
        let copying: Vec<_> = c.copying.iter().filter(|x| x.side == s.side).collect();
        if !copying.is_empty() {
            out.push_str(
                "<h3>Cascades</h3><table><tr><th>direction</th><th>first message</th><th>channel</th>\
                 <th class=\"num\">copies</th><th>copies' messages</th></tr>",
            );
            for x in copying.iter().take(caps.cascade_rows) {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td><td><code>{}</code></td></tr>",
                    if x.direction == "out" { "copied from the side" } else { "the side copying" },
                    esc(&x.origin_key),
                    esc(&x.origin_channel),
                    x.copies,
                    esc(&x.copy_keys.join(" "))
                );
            }
            out.push_str("</table>");
        }
        let clusters: Vec<_> = c.clusters.iter().filter(|x| x.side == s.side).collect();
        if !clusters.is_empty() {
            out.push_str(
                "<h3>Coordination clusters</h3><table><tr><th class=\"num\">cluster</th><th class=\"num\">its accounts\
                 </th><th class=\"num\">the side's</th><th>edges' messages</th></tr>",
            );
            for x in clusters.iter().take(caps.cascade_rows) {
                let _ = write!(
                    out,
                    "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td><code>{}</code></td></tr>",
                    x.cluster,
                    x.size,
                    x.side_accounts,
                    esc(&x.evidence_keys.join(" "))
                );
            }
            out.push_str("</table>");
        }
        if adopters.is_empty() && copying.is_empty() && clusters.is_empty() {
            out.push_str("<p class=\"muted\">No adoption, cascade or cluster to show.</p>");
        }
        out.push_str("</details>");
    }
}
