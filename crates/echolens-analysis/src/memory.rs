//! Giving freed memory back to the system between the steps of an analysis.
//!
//! The analyses free large buffers (a kernel's signatures, a plan's hash tables and sorts) and then start the
//! next step. An allocator that keeps freed pages for a while holds them under the next step's allocations, and
//! the process's peak becomes the sum of two steps instead of the larger one. The analyses do not know the
//! allocator: the binary installs a release function ([`set_release`]; echolens's forces mimalloc to purge what
//! is free), and [`release`] calls it at step boundaries. Without one installed, [`release`] does nothing.

use std::sync::OnceLock;

static RELEASE: OnceLock<fn()> = OnceLock::new();

/// Installs `f` as the function that returns freed memory to the system; the first one installed stays.
pub fn set_release(f: fn()) {
    let _ = RELEASE.set(f);
}

/// Returns freed memory to the system, if a release function is installed: the analyses call it between their
/// steps, `analyze` between its stages.
pub fn release() {
    if let Some(f) = RELEASE.get() {
        f();
    }
}

/// The engine's memory pool when `--memory` is a budget for the whole process, not for the engine alone.
///
/// A fair spill pool ([`datafusion`]'s `FairSpillPool`: every spillable operator gets an equal share and
/// spills beyond it) whose size for the spillable operators is the budget less what the process holds outside
/// the pool: the analyses' own state (a coordination result, an index, the pseudonyms) grows with the corpus,
/// and with a pool of fixed size the process's peak was that state plus the whole pool. The outside is the
/// resident memory less the pool's reservations, read at most every [`SAMPLE_EVERY`]. The spillable operators
/// always keep a part of the budget ([`FLOOR_SHARE`], [`MIN_POOL`]), so a run whose state alone is over the
/// budget still completes, spilling more; an operator holding nothing gets a fair share of the whole budget.
/// Operators that cannot spill (a hash join's build side) get the whole budget as before: to
/// refuse them would fail the run, not bound it. A repartition's buffers get a share of the whole budget
/// ([`is_repartition`]).
pub struct BudgetPool {
    budget: usize,
    resident: Resident,
    state: std::sync::Mutex<PoolState>,
}

/// The process's resident memory in bytes (`None`: unknown, and then nothing is counted outside the pool).
pub type Resident = Box<dyn Fn() -> Option<usize> + Send + Sync>;

/// The least part of the budget the spillable operators keep, whatever the process holds: a quarter, and at
/// least [`MIN_POOL`].
pub const FLOOR_SHARE: usize = 4;

/// The least pool the engine's sorts and aggregations work in even when they spill (measured: the main job on a
/// million messages fails in a pool of 48 MB).
pub const MIN_POOL: usize = 64 << 20;

/// How often the resident memory is read again (reading it costs a system call and a parse).
pub const SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

#[derive(Debug, Default)]
struct PoolState {
    num_spill: usize,
    spillable: usize,
    unspillable: usize,
    /// Bytes held outside the pool at the last reading, and when it was read.
    outside: usize,
    read_at: Option<std::time::Instant>,
}

impl BudgetPool {
    /// A pool of `budget` bytes for the process, reading its resident memory from the system.
    pub fn new(budget: usize) -> BudgetPool {
        BudgetPool::with_resident(budget, Box::new(resident_bytes))
    }

    /// A pool of `budget` bytes for a process whose resident memory `resident` says.
    pub fn with_resident(budget: usize, resident: Resident) -> BudgetPool {
        BudgetPool { budget, resident, state: Default::default() }
    }

    /// What the spillable operators may hold together now: the budget less what is held outside the pool and
    /// by the operators that cannot spill, and at least [`BudgetPool::floor`] whatever those hold (a sort left
    /// nothing beside a join's build side fails the run: the 53M-message benchmark's window join did).
    fn spill_available(&self, state: &mut PoolState) -> usize {
        self.budget.saturating_sub(self.outside(state).saturating_add(state.unspillable)).max(self.floor())
    }

    /// What the process holds outside the pool, read again when the last reading is [`SAMPLE_EVERY`] old.
    fn outside(&self, state: &mut PoolState) -> usize {
        let now = std::time::Instant::now();
        if state.read_at.is_none_or(|at| now.duration_since(at) >= SAMPLE_EVERY) {
            let reserved = state.spillable + state.unspillable;
            state.outside = (self.resident)().map_or(0, |r| r.saturating_sub(reserved));
            state.read_at = Some(now);
        }
        state.outside
    }

    /// What the budget leaves now after what the process holds outside the pool, at least [`BudgetPool::floor`]
    /// (read afresh): what a kernel that sizes its own batches to the budget may take.
    pub fn left(&self) -> usize {
        let mut state = self.lock();
        state.read_at = None;
        self.budget.saturating_sub(self.outside(&mut state)).max(self.floor())
    }

    /// The pool's least size, whatever the process holds outside it.
    pub fn floor(&self) -> usize {
        (self.budget / FLOOR_SHARE).max(MIN_POOL).min(self.budget)
    }
}

impl std::fmt::Debug for BudgetPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BudgetPool").field("budget", &self.budget).field("state", &self.state).finish()
    }
}

impl std::fmt::Display for BudgetPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "budget({} bytes)", self.budget)
    }
}

use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation};

/// Whether `ctx` runs its plans in this process: its pool is the process's budget ([`BudgetPool`], the pool of
/// every local analysis session), where a cluster client's session runs them on the executors. A table such a
/// session keeps among its spill files is readable by its plans; on a cluster it would not be.
pub(crate) fn is_local(ctx: &datafusion::prelude::SessionContext) -> bool {
    ctx.runtime_env().memory_pool.downcast_ref::<BudgetPool>().is_some()
}

/// Whether `consumer` is a repartition's buffers. They take a share of the whole budget, as a fair pool of the
/// budget gives, not of what it leaves: with DataFusion 55, a repartition that spills while its output is read
/// can wait for ever (apache/datafusion#24883: two spill files, one reader; every thread parks), and the
/// 53M-message benchmark's sweep hung so when the repartitions had a share of what the budget left. Held
/// against the whole budget instead, they buffered up to all of it under the 10M window join (1306 MB).
fn is_repartition(consumer: &MemoryConsumer) -> bool {
    consumer.name().starts_with("RepartitionExec")
}

impl MemoryPool for BudgetPool {
    fn name(&self) -> &str {
        "budget"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        if consumer.can_spill() {
            self.lock().num_spill += 1;
        }
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        if consumer.can_spill() {
            let mut state = self.lock();
            state.num_spill = state.num_spill.saturating_sub(1);
        }
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        let mut state = self.lock();
        match reservation.consumer().can_spill() {
            true => state.spillable += additional,
            false => state.unspillable += additional,
        }
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        let mut state = self.lock();
        match reservation.consumer().can_spill() {
            true => state.spillable = state.spillable.saturating_sub(shrink),
            false => state.unspillable = state.unspillable.saturating_sub(shrink),
        }
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> datafusion::error::Result<()> {
        let mut state = self.lock();
        if reservation.consumer().can_spill() {
            let spillers = state.num_spill.max(1);
            let whole = self.budget.saturating_sub(state.unspillable) / spillers;
            let mut available = if is_repartition(reservation.consumer()) {
                whole
            } else {
                self.spill_available(&mut state) / spillers
            };
            // An operator holding nothing has nothing to spill to make room: refused, it fails the run (a sort
            // of reuse's members at 53M messages asked for one batch of 179 MB). It gets what a fair pool of the
            // whole budget would give it; once it holds something, it spills at the budget's share.
            if reservation.size() == 0 {
                available = available.max(whole);
            }
            if reservation.size() + additional > available {
                return Err(refused(reservation, additional, available));
            }
            state.spillable += additional;
        } else {
            let available = self.budget.saturating_sub(state.unspillable + state.spillable);
            if additional > available {
                return Err(refused(reservation, additional, available));
            }
            state.unspillable += additional;
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        let state = self.lock();
        state.spillable + state.unspillable
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.budget)
    }
}

impl BudgetPool {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        // The state is a few counters, each update complete: a panic elsewhere leaves none half made.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The engine's "resources exhausted" error for a refused reservation (the error `main` recognises to hint at
/// `--memory`).
fn refused(reservation: &MemoryReservation, additional: usize, available: usize) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::ResourcesExhausted(format!(
        "Failed to allocate additional {additional} bytes for {} with {} bytes already allocated for this \
         reservation - {available} bytes remain available for the operator",
        reservation.consumer().name(),
        reservation.size()
    ))
}

/// The process's resident memory in bytes (Linux: `VmRSS` in `/proc/self/status`; `None` elsewhere).
pub fn resident_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool};
    use datafusion::physical_plan::ExecutionPlan;

    use super::*;

    const MIB: usize = 1 << 20;

    /// A pool of `budget` whose process holds `held` (as the test sets it) beside the pool's reservations.
    fn pool(budget: usize, held: &Arc<AtomicUsize>) -> Arc<dyn MemoryPool> {
        let held = Arc::clone(held);
        Arc::new(BudgetPool::with_resident(budget, Box::new(move || Some(held.load(Ordering::Relaxed)))))
    }

    #[test]
    fn spillable_operators_get_what_the_process_leaves_of_the_budget() {
        let held = Arc::new(AtomicUsize::new(700 * MIB));
        let pool = pool(1024 * MIB, &held);
        let sort = MemoryConsumer::new("sort").with_can_spill(true).register(&pool);
        sort.try_grow(300 * MIB).unwrap();
        let err = sort.try_grow(100 * MIB).unwrap_err();
        assert!(matches!(err.find_root(), datafusion::error::DataFusionError::ResourcesExhausted(_)), "{err}");
        assert_eq!(sort.size(), 300 * MIB);
        // What the pool lends is not counted as held outside it: the process's memory read again (after the
        // sampling interval) includes the sort's 300 MB, and the sort may still hold them.
        held.store(1000 * MIB, Ordering::Relaxed);
        std::thread::sleep(SAMPLE_EVERY * 2);
        sort.try_grow(24 * MIB).unwrap();
        assert!(sort.try_grow(MIB).is_err());
        // The process frees what it held: the sort may grow again.
        held.store(324 * MIB, Ordering::Relaxed);
        std::thread::sleep(SAMPLE_EVERY * 2);
        sort.try_grow(600 * MIB).unwrap();
        assert_eq!(pool.reserved(), 924 * MIB);
        let budget = pool.downcast_ref::<BudgetPool>().unwrap();
        assert_eq!(budget.left(), 1024 * MIB, "the process holds nothing beside the sort's 924 MB");
        held.store(1324 * MIB, Ordering::Relaxed);
        assert_eq!(budget.left(), 624 * MIB, "read afresh: 400 MB held beside the sort");
    }

    #[test]
    fn a_process_over_its_budget_leaves_the_operators_their_floor() {
        let held = Arc::new(AtomicUsize::new(5 * 1024 * MIB));
        let pool = pool(1024 * MIB, &held);
        let sort = MemoryConsumer::new("sort").with_can_spill(true).register(&pool);
        sort.try_grow(256 * MIB).unwrap();
        assert!(sort.try_grow(1).is_err());
        // A small budget keeps the engine's least pool.
        let small = BudgetPool::with_resident(100 * MIB, Box::new(|| Some(usize::MAX)));
        assert_eq!(small.floor(), MIN_POOL);
        assert_eq!(BudgetPool::with_resident(48 * MIB, Box::new(|| None)).floor(), 48 * MIB);
    }

    #[test]
    fn operators_that_cannot_spill_get_the_whole_budget_and_spillers_share_what_is_left() {
        let held = Arc::new(AtomicUsize::new(5 * 1024 * MIB));
        let pool = pool(1024 * MIB, &held);
        let join = MemoryConsumer::new("join").register(&pool);
        join.try_grow(1024 * MIB).unwrap();
        assert!(join.try_grow(1).is_err());
        // Beside it, a sort still has the floor (it would fail with nothing).
        let sort = MemoryConsumer::new("sort").with_can_spill(true).register(&pool);
        sort.try_grow(256 * MIB).unwrap();
        assert!(sort.try_grow(1).is_err());
        drop(sort);
        join.shrink(1024 * MIB);
        held.store(0, Ordering::Relaxed);
        std::thread::sleep(SAMPLE_EVERY * 2);
        join.try_grow(24 * MIB).unwrap();
        let a = MemoryConsumer::new("a").with_can_spill(true).register(&pool);
        let b = MemoryConsumer::new("b").with_can_spill(true).register(&pool);
        a.try_grow(500 * MIB).unwrap();
        assert!(a.try_grow(MIB).is_err(), "each of two spillers gets half of the 1000 MB left");
        b.try_grow(500 * MIB).unwrap();
        assert!(b.try_grow(MIB).is_err());
    }

    #[test]
    fn an_operator_holding_nothing_gets_the_whole_budgets_share() {
        let held = Arc::new(AtomicUsize::new(5 * 1024 * MIB));
        let pool = pool(1024 * MIB, &held);
        let sort = MemoryConsumer::new("sort").with_can_spill(true).register(&pool);
        let other = MemoryConsumer::new("aggregate").with_can_spill(true).register(&pool);
        assert!(sort.try_grow(513 * MIB).is_err(), "more than half the budget: two spillers share it");
        sort.try_grow(512 * MIB).unwrap();
        assert!(sort.try_grow(MIB).is_err(), "holding, it spills at its share of the floor");
        sort.shrink(512 * MIB);
        sort.try_grow(100 * MIB).unwrap();
        sort.try_grow(28 * MIB).unwrap();
        assert!(sort.try_grow(MIB).is_err());
        other.try_grow(128 * MIB).unwrap();
    }

    #[test]
    fn a_repartitions_buffers_get_a_share_of_the_whole_budget() {
        let held = Arc::new(AtomicUsize::new(5 * 1024 * MIB));
        let pool = pool(1024 * MIB, &held);
        let buffers = MemoryConsumer::new("RepartitionExec[1]").with_can_spill(true).register(&pool);
        let sort = MemoryConsumer::new("ExternalSorter[0]").with_can_spill(true).register(&pool);
        buffers.try_grow(100 * MIB).unwrap();
        buffers.try_grow(412 * MIB).unwrap();
        assert!(buffers.try_grow(MIB).is_err(), "half the budget: the sort has the other half");
        sort.try_grow(10 * MIB).unwrap();
        sort.try_grow(118 * MIB).unwrap();
        assert!(sort.try_grow(MIB).is_err(), "the sort, holding, has its share of the floor");
    }

    #[test]
    fn without_a_reading_the_pool_is_the_budget() {
        let pool: Arc<dyn MemoryPool> = Arc::new(BudgetPool::with_resident(512 * MIB, Box::new(|| None)));
        let sort = MemoryConsumer::new("sort").with_can_spill(true).register(&pool);
        sort.try_grow(512 * MIB).unwrap();
        assert!(sort.try_grow(1).is_err());
    }

    #[test]
    fn the_process_resident_memory_is_read_where_the_system_says() {
        if cfg!(target_os = "linux") {
            let r = resident_bytes().expect("Linux says");
            assert!(r > MIB, "{r}");
        }
    }

    /// The spill counts of `plan` and its children.
    fn spills(plan: &Arc<dyn ExecutionPlan>) -> usize {
        plan.metrics().and_then(|m| m.spill_count()).unwrap_or(0)
            + plan.children().iter().map(|c| spills(c)).sum::<usize>()
    }

    /// An aggregation that fits the budget spills when the process holds most of it, and gives the same groups.
    #[tokio::test]
    async fn an_aggregation_spills_when_the_process_holds_the_budget() {
        let sql = "SELECT value % 2000000 AS k, count(*) AS n FROM range(4000000) GROUP BY k";
        let mut runs = Vec::new();
        for held in [0, 64 << 30] {
            let pool = Arc::new(BudgetPool::with_resident(512 * MIB, Box::new(move || Some(held))));
            let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
                .with_memory_pool(pool)
                .build_arc()
                .unwrap();
            let ctx = datafusion::prelude::SessionContext::new_with_config_rt(crate::session_config(), runtime);
            let plan = ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap();
            let batches = datafusion::physical_plan::collect(Arc::clone(&plan), ctx.task_ctx()).await.unwrap();
            let groups: usize = batches.iter().map(|b| b.num_rows()).sum();
            let rows: i64 = batches
                .iter()
                .map(|b| crate::table::i64s(b, "n").unwrap().iter().map(|v| v.unwrap()).sum::<i64>())
                .sum();
            runs.push((groups, rows, spills(&plan)));
        }
        assert_eq!((runs[0].0, runs[0].1), (2_000_000, 4_000_000));
        assert_eq!((runs[1].0, runs[1].1), (2_000_000, 4_000_000));
        assert_eq!(runs[0].2, 0, "a pool of the whole budget holds the groups: {runs:?}");
        assert!(runs[1].2 > 0, "the floor of 128 MB does not: {runs:?}");
    }
}
