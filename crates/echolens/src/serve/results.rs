//! The tables of an `analyze` folder the pages read: loaded once when `serve` starts, the large edge table
//! indexed by where each edge is rather than held.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::findings::{ReportDir, Rows};

/// The tables of an `analyze` folder the pages read, loaded once.
pub(super) struct Results {
    pub(super) dir: ReportDir,
    pub(super) clusters: Rows,
    /// Cluster → its accounts' rows.
    pub(super) members: HashMap<String, Rows>,
    /// Account → its cluster.
    pub(super) cluster_of: HashMap<String, String>,
    /// The edges between the accounts of each cluster.
    pub(super) inner_edges: InnerEdges,
    pub(super) sweep: Rows,
    pub(super) cascades: Rows,
    /// Cascade → its members' rows, in time order.
    pub(super) cascade_members: HashMap<String, Rows>,
    /// A member's key (as shown) → its cascade.
    pub(super) cascade_of: HashMap<String, String>,
}

impl Results {
    pub(super) fn load(dir: ReportDir) -> Result<Results> {
        let clusters = dir.table("coordination", "cluster_summary")?;
        let mut members: HashMap<String, Rows> = HashMap::new();
        let mut cluster_of = HashMap::new();
        for row in dir.table("coordination", "clusters")? {
            let (cluster, account) = (field(&row, "cluster").to_owned(), field(&row, "account").to_owned());
            cluster_of.insert(account, cluster.clone());
            members.entry(cluster).or_default().push(row);
        }
        let inner_edges = InnerEdges::load(&dir, &cluster_of)?;
        let sweep = dir.table("coordination", "sweep").unwrap_or_default();
        let cascades = dir.table("reuse", "cascade_summary")?;
        let mut cascade_members: HashMap<String, Rows> = HashMap::new();
        let mut cascade_of = HashMap::new();
        for row in dir.table("reuse", "cascades")? {
            let cascade = field(&row, "cascade").to_owned();
            cascade_of.insert(field(&row, "key").to_owned(), cascade.clone());
            cascade_members.entry(cascade).or_default().push(row);
        }
        for rows in cascade_members.values_mut() {
            rows.sort_by(|x, y| field(x, "ts").cmp(field(y, "ts")).then(field(x, "key").cmp(field(y, "key"))));
        }
        Ok(Results { dir, clusters, members, cluster_of, inner_edges, sweep, cascades, cascade_members, cascade_of })
    }
}

/// The edges inside each cluster, the strongest first: where each is in `edges.csv` (its rows are read when a
/// page asks for them: at 10M messages the file is half a gigabyte), or, from a Parquet table, the rows.
pub(super) enum InnerEdges {
    Csv { path: PathBuf, header: Vec<String>, by_cluster: HashMap<String, Vec<EdgeAt>> },
    Rows(HashMap<String, Rows>),
}

/// An edge's place in `edges.csv`, its weight and its two accounts (indexes into the cluster's members).
pub(super) struct EdgeAt {
    offset: u64,
    weight: f64,
    accounts: [u32; 2],
}

impl InnerEdges {
    fn load(dir: &ReportDir, cluster_of: &HashMap<String, String>) -> Result<InnerEdges> {
        let path = dir.dir.join("coordination/edges.csv");
        if !path.exists() {
            let mut by_cluster: HashMap<String, Rows> = HashMap::new();
            for row in dir.table("coordination", "edges")? {
                if let (Some(ca), Some(cb)) =
                    (cluster_of.get(field(&row, "account_a")), cluster_of.get(field(&row, "account_b")))
                    && ca == cb
                {
                    by_cluster.entry(ca.clone()).or_default().push(row);
                }
            }
            for rows in by_cluster.values_mut() {
                rows.sort_by(|x, y| number(y, "weight").total_cmp(&number(x, "weight")));
            }
            return Ok(InnerEdges::Rows(by_cluster));
        }
        let mut reader = csv::Reader::from_path(&path).with_context(|| format!("opening {}", path.display()))?;
        let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
        let (a, b, w) = (
            column(&header, "account_a", &path)?,
            column(&header, "account_b", &path)?,
            column(&header, "weight", &path)?,
        );
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut by_cluster: HashMap<String, Vec<EdgeAt>> = HashMap::new();
        let mut record = csv::StringRecord::new();
        loop {
            let offset = reader.position().byte();
            if !reader.read_record(&mut record).with_context(|| format!("reading {}", path.display()))? {
                break;
            }
            let (Some(ca), Some(cb)) = (cluster_of.get(&record[a]), cluster_of.get(&record[b])) else { continue };
            if ca != cb {
                continue;
            }
            let next = ids.len() as u32;
            let ia = *ids.entry(record[a].to_owned()).or_insert(next);
            let next = ids.len() as u32;
            let ib = *ids.entry(record[b].to_owned()).or_insert(next);
            let weight = record[w].parse().unwrap_or(0.0);
            by_cluster.entry(ca.clone()).or_default().push(EdgeAt { offset, weight, accounts: [ia, ib] });
        }
        for edges in by_cluster.values_mut() {
            edges.sort_by(|x, y| y.weight.total_cmp(&x.weight).then(x.offset.cmp(&y.offset)));
        }
        Ok(InnerEdges::Csv { path, header, by_cluster })
    }

    /// The edges of `cluster` (those of `account` if given) the strongest first, the first `limit` of them, and
    /// how many there are.
    pub(super) fn of(&self, cluster: &str, account: Option<&str>, limit: usize) -> Result<(Rows, usize)> {
        let wanted = |row: &HashMap<String, String>| {
            account.is_none_or(|a| field(row, "account_a") == a || field(row, "account_b") == a)
        };
        match self {
            InnerEdges::Rows(by_cluster) => {
                let all: Vec<&HashMap<String, String>> =
                    by_cluster.get(cluster).map_or(&[][..], Vec::as_slice).iter().filter(|r| wanted(r)).collect();
                Ok((all.iter().take(limit).map(|r| (*r).clone()).collect(), all.len()))
            }
            InnerEdges::Csv { path, header, by_cluster } => {
                let edges = by_cluster.get(cluster).map_or(&[][..], Vec::as_slice);
                let mut reader = csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
                let mut record = csv::StringRecord::new();
                let mut read = |at: &EdgeAt| -> Result<HashMap<String, String>> {
                    let mut position = csv::Position::new();
                    position.set_byte(at.offset);
                    reader.seek(position)?;
                    reader.read_record(&mut record)?;
                    Ok(header.iter().cloned().zip(record.iter().map(str::to_owned)).collect())
                };
                let Some(account) = account else {
                    let rows = edges.iter().take(limit).map(&mut read).collect::<Result<Rows>>()?;
                    return Ok((rows, edges.len()));
                };
                // One account's edges: its index is found in the first edge that names it.
                let mut rows = Vec::new();
                let mut total = 0;
                let mut index: Option<u32> = None;
                for at in edges {
                    if index.is_some_and(|i| !at.accounts.contains(&i)) {
                        continue;
                    }
                    let row = read(at)?;
                    if !wanted(&row) {
                        continue;
                    }
                    if index.is_none() {
                        let i = if field(&row, "account_a") == account { 0 } else { 1 };
                        index = Some(at.accounts[i]);
                    }
                    total += 1;
                    if rows.len() < limit {
                        rows.push(row);
                    }
                }
                Ok((rows, total))
            }
        }
    }
}

pub(super) fn field<'a>(row: &'a HashMap<String, String>, name: &str) -> &'a str {
    row.get(name).map_or("", String::as_str)
}

pub(super) fn number(row: &HashMap<String, String>, name: &str) -> f64 {
    field(row, name).parse().unwrap_or(0.0)
}

fn column(header: &[String], name: &str, path: &std::path::Path) -> Result<usize> {
    header.iter().position(|h| h == name).with_context(|| format!("{}: no column {name}", path.display()))
}
