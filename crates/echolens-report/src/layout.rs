//! A force-directed layout (Fruchterman and Reingold 1991) for the network picture, computed once when the
//! report is written. Deterministic: nodes start around their cluster's place on a circle, with no randomness,
//! so the same network gives the same picture.

/// Positions in `0..1` for `n` nodes with `edges` (a, b, weight), starting grouped by `group`.
pub fn layout(n: usize, edges: &[(usize, usize, f64)], group: &[usize], iterations: usize) -> Vec<(f64, f64)> {
    if n == 0 {
        return Vec::new();
    }
    let groups = group.iter().copied().max().map_or(1, |g| g + 1);
    let mut rank_in_group = vec![0usize; groups];
    let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
    let mut pos: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let g = group[i];
            let angle = std::f64::consts::TAU * g as f64 / groups as f64;
            let (cx, cy) = if groups == 1 { (0.5, 0.5) } else { (0.5 + 0.3 * angle.cos(), 0.5 + 0.3 * angle.sin()) };
            let r = rank_in_group[g];
            rank_in_group[g] += 1;
            let d = 0.02 * (r as f64).sqrt();
            (cx + d * (r as f64 * golden).cos(), cy + d * (r as f64 * golden).sin())
        })
        .collect();
    let k = (1.0 / n as f64).sqrt();
    let max_w = edges.iter().map(|e| e.2).fold(1.0f64, f64::max);
    let mut disp = vec![(0.0f64, 0.0f64); n];
    for it in 0..iterations {
        let temperature = 0.08 * (1.0 - it as f64 / iterations as f64) + 0.002;
        disp.iter_mut().for_each(|d| *d = (0.0, 0.0));
        for i in 0..n {
            for j in i + 1..n {
                let (dx, dy) = (pos[i].0 - pos[j].0, pos[i].1 - pos[j].1);
                let d2 = (dx * dx + dy * dy).max(1e-6);
                let f = k * k / d2;
                disp[i].0 += dx * f;
                disp[i].1 += dy * f;
                disp[j].0 -= dx * f;
                disp[j].1 -= dy * f;
            }
        }
        for &(a, b, w) in edges {
            let (dx, dy) = (pos[a].0 - pos[b].0, pos[a].1 - pos[b].1);
            let d = (dx * dx + dy * dy).sqrt().max(1e-6);
            let f = d / k * (0.5 + 0.5 * w / max_w);
            disp[a].0 -= dx * f;
            disp[a].1 -= dy * f;
            disp[b].0 += dx * f;
            disp[b].1 += dy * f;
        }
        for i in 0..n {
            // A weak pull to the centre keeps unconnected parts on the page.
            disp[i].0 += (0.5 - pos[i].0) * 0.05 / k;
            disp[i].1 += (0.5 - pos[i].1) * 0.05 / k;
            let len = (disp[i].0 * disp[i].0 + disp[i].1 * disp[i].1).sqrt().max(1e-9);
            let step = len.min(temperature);
            pos[i].0 += disp[i].0 / len * step;
            pos[i].1 += disp[i].1 / len * step;
        }
    }
    // Fit into the unit square.
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in &pos {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    // One scale for both axes (the picture keeps its shape), centred.
    let scale = (x1 - x0).max(y1 - y0).max(1e-9);
    let (ox, oy) = ((1.0 - (x1 - x0) / scale) / 2.0, (1.0 - (y1 - y0) / scale) / 2.0);
    pos.iter().map(|&(x, y)| if n == 1 { (0.5, 0.5) } else { (ox + (x - x0) / scale, oy + (y - y0) / scale) }).collect()
}

/// Each group laid out on its own in a cell of a grid (`cols` wide, largest group first), so clusters sit side
/// by side instead of pushing each other to the edges of the picture. Returns the positions in `0..1` of the
/// whole grid and its (columns, rows).
pub fn grid(
    n: usize,
    edges: &[(usize, usize, f64)],
    group: &[usize],
    iterations: usize,
) -> (Vec<(f64, f64)>, (usize, usize)) {
    let groups = group.iter().copied().max().map_or(0, |g| g + 1);
    let cols = groups.clamp(1, 4);
    let rows = groups.div_ceil(cols).max(1);
    let mut pos = vec![(0.5, 0.5); n];
    for g in 0..groups {
        let members: Vec<usize> = (0..n).filter(|&i| group[i] == g).collect();
        let local: std::collections::HashMap<usize, usize> = members.iter().enumerate().map(|(j, &i)| (i, j)).collect();
        let inner: Vec<(usize, usize, f64)> =
            edges.iter().filter_map(|&(a, b, w)| Some((*local.get(&a)?, *local.get(&b)?, w))).collect();
        let p = layout(members.len(), &inner, &vec![0; members.len()], iterations);
        let (col, row) = (g % cols, g / cols);
        for (j, &i) in members.iter().enumerate() {
            pos[i] = ((col as f64 + 0.1 + 0.8 * p[j].0) / cols as f64, (row as f64 + 0.1 + 0.8 * p[j].1) / rows as f64);
        }
    }
    (pos, (cols, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_deterministic_and_keeps_clusters_apart() {
        // Two cliques of five, one weak bridge.
        let mut edges = Vec::new();
        for base in [0, 5] {
            for a in base..base + 5 {
                for b in a + 1..base + 5 {
                    edges.push((a, b, 5.0));
                }
            }
        }
        edges.push((4, 5, 1.0));
        let group: Vec<usize> = (0..10).map(|i| i / 5).collect();
        let p = layout(10, &edges, &group, 200);
        assert_eq!(p, layout(10, &edges, &group, 200));
        assert!(p.iter().all(|&(x, y)| (0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y)));
        let dist = |a: usize, b: usize| ((p[a].0 - p[b].0).powi(2) + (p[a].1 - p[b].1).powi(2)).sqrt();
        let within = (dist(0, 1) + dist(2, 3) + dist(6, 7) + dist(8, 9)) / 4.0;
        let across = (dist(0, 9) + dist(1, 8) + dist(2, 7) + dist(3, 6)) / 4.0;
        assert!(across > 2.0 * within, "within {within}, across {across}");
    }

    #[test]
    fn a_grid_puts_each_group_in_its_own_cell() {
        let edges = vec![(0, 1, 1.0), (1, 2, 1.0), (3, 4, 1.0)];
        let group = [0, 0, 0, 1, 1];
        let (p, (cols, rows)) = grid(5, &edges, &group, 100);
        assert_eq!((cols, rows), (2, 1));
        assert!(p[..3].iter().all(|&(x, _)| x < 0.5) && p[3..].iter().all(|&(x, _)| x > 0.5), "{p:?}");
    }
}
