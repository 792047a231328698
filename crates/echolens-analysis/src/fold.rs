//! Kernels as aggregate functions. A [`Fold`] counts the rows of one partition, writes what it counted as
//! bytes and merges such bytes from other partitions: wrapped in an aggregate UDF ([`udaf`]) it runs where the
//! engine puts an aggregate's partial and final modes, so on a cluster's executors, and only the folds' bytes
//! travel. A fold may also gather what its work needs per partition and do the work in the merge
//! ([`Fold::finish`]; the `similar` search's time slabs), handing back only the result. A fold UDF is made
//! from a parameter (JSON), sent with a plan and made again on the executors ([`parameter_of`],
//! [`crate::rebuild_udaf`]).
//!
//! A fold cannot spill, so what it holds is not reserved in the engine's memory pool: an aggregate without
//! groups fails once its accumulator outgrows the pool, and a fold's table grows with what it counts (distinct
//! words), not with the rows. Reserved, 200,000 messages of 20 unique words each failed under `--memory 256M`
//! (a 110 MB table per partition); unreserved, they are counted as the kernels before the folds counted them.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, LargeBinaryArray};
use arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use crate::{Error, Result};

/// A partition's counting, as an aggregate's state.
pub(crate) trait Fold: Send + Sync + std::fmt::Debug {
    /// Count a batch of the function's arguments.
    fn update(&mut self, args: &[ArrayRef]) -> Result<()>;
    /// Add what another fold wrote with [`Fold::write`].
    fn merge(&mut self, bytes: &[u8]) -> Result<()>;
    /// What was counted, as bytes [`Fold::merge`] reads.
    fn write(&self, out: &mut Vec<u8>);
    /// The partition's state handed on to the merge, as [`Fold::write`] writes it: called once, when the fold
    /// has seen all its rows, so a fold may give back what it held as it writes.
    fn hand_on(&mut self, out: &mut Vec<u8>) {
        self.write(out);
    }
    /// The aggregate's result: what was counted, unless the fold does its work once everything is merged (on
    /// the executor that merges) and writes that work's result.
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        self.write(out);
        Ok(())
    }
}

type Make = Arc<dyn Fn() -> Box<dyn Fold> + Send + Sync>;

/// An aggregate UDF around a [`Fold`]: its state and its result are the fold's bytes (`LargeBinary`).
struct FoldUdaf {
    name: String,
    param: String,
    signature: Signature,
    make: Make,
}

impl std::fmt::Debug for FoldUdaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FoldUdaf").field("name", &self.name).field("param", &self.param.len()).finish()
    }
}

impl PartialEq for FoldUdaf {
    fn eq(&self, other: &FoldUdaf) -> bool {
        (&self.name, &self.param) == (&other.name, &other.param)
    }
}

impl Eq for FoldUdaf {}

impl Hash for FoldUdaf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.param.hash(state);
    }
}

impl AggregateUDFImpl for FoldUdaf {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::LargeBinary)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::new(FoldAccumulator { fold: (self.make)() }))
    }
}

#[derive(Debug)]
struct FoldAccumulator {
    fold: Box<dyn Fold>,
}

fn external(e: Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

impl Accumulator for FoldAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.fold.update(values).map_err(external)
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        let mut out = Vec::new();
        self.fold.finish(&mut out).map_err(external)?;
        Ok(ScalarValue::LargeBinary(Some(out)))
    }

    fn size(&self) -> usize {
        // The accumulator, not its fold's table (see the module's comment).
        std::mem::size_of::<FoldAccumulator>()
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        // The engine asks for a partition's state once, consuming it.
        let mut out = Vec::new();
        self.fold.hand_on(&mut out);
        Ok(vec![ScalarValue::LargeBinary(Some(out))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let states = states[0]
            .as_any()
            .downcast_ref::<LargeBinaryArray>()
            .ok_or_else(|| DataFusionError::Internal("a fold's state is not bytes".into()))?;
        for bytes in states.iter().flatten() {
            self.fold.merge(bytes).map_err(external)?;
        }
        Ok(())
    }
}

/// The aggregate UDF `name` over arguments of `signature`, each partition's state made by `make`; `param` is
/// what [`crate::rebuild_udaf`] makes it again from.
pub(crate) fn udaf(
    name: &str,
    param: String,
    signature: Signature,
    make: impl Fn() -> Box<dyn Fold> + Send + Sync + 'static,
) -> AggregateUDF {
    AggregateUDF::new_from_impl(FoldUdaf { name: name.to_owned(), param, signature, make: Arc::new(make) })
}

/// The parameter a fold UDF was made from (`None`: not a fold).
pub fn parameter_of(udaf: &AggregateUDF) -> Option<&str> {
    udaf.inner().downcast_ref::<FoldUdaf>().map(|f| f.param.as_str())
}

/// Run `sql`, a query of one row whose column `fold` is a fold's result, and give its bytes.
pub(crate) async fn run(ctx: &SessionContext, sql: &str) -> Result<Vec<u8>> {
    crate::table::explain(ctx, sql).await?;
    let batches = ctx.sql(sql).await?.collect().await?;
    let mut found = None;
    for batch in &batches {
        let col = batch.column_by_name("fold").ok_or_else(|| Error::Internal(format!("{sql}: no column fold")))?;
        let col = arrow::compute::cast(col, &DataType::LargeBinary)?;
        let col = col.as_any().downcast_ref::<LargeBinaryArray>().expect("LargeBinary cast");
        for bytes in col.iter().flatten() {
            if found.replace(bytes.to_vec()).is_some() {
                return Err(Error::Internal(format!("{sql}: more than one fold")));
            }
        }
    }
    found.ok_or_else(|| Error::Internal(format!("{sql}: no fold")))
}

/// A reader of what a [`Fold::write`] wrote: little-endian numbers and length-prefixed strings.
pub(crate) struct Bytes<'a> {
    rest: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Bytes<'a> {
        Bytes { rest: bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(Error::Internal("a fold's bytes end early".into()));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("eight bytes")))
    }

    pub(crate) fn i64(&mut self) -> Result<i64> {
        Ok(self.u64()? as i64)
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("four bytes")))
    }

    /// `n` numbers as [`put_u32s`] wrote them.
    pub(crate) fn u32s(&mut self, n: usize) -> Result<Vec<u32>> {
        let bytes = self.take(n.checked_mul(4).ok_or_else(|| Error::Internal("a fold's list is too long".into()))?)?;
        Ok(bytes.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().expect("four bytes"))).collect())
    }

    /// `n` numbers as [`put_i64s`] wrote them.
    pub(crate) fn i64s(&mut self, n: usize) -> Result<Vec<i64>> {
        let bytes = self.take(n.checked_mul(8).ok_or_else(|| Error::Internal("a fold's list is too long".into()))?)?;
        Ok(bytes.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("eight bytes"))).collect())
    }

    pub(crate) fn str(&mut self) -> Result<&'a str> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().expect("four bytes")) as usize;
        std::str::from_utf8(self.take(n)?).map_err(|e| Error::Internal(format!("a fold's string: {e}")))
    }
}

/// `n` as [`Bytes::u64`] reads it.
pub(crate) fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_le_bytes());
}

/// `n` as [`Bytes::u32`] reads it.
pub(crate) fn put_u32(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_le_bytes());
}

/// `v` as [`Bytes::u32s`] reads it (its length written apart).
pub(crate) fn put_u32s(out: &mut Vec<u8>, v: &[u32]) {
    out.reserve(4 * v.len());
    v.iter().for_each(|n| out.extend_from_slice(&n.to_le_bytes()));
}

/// `v` as [`Bytes::i64s`] reads it (its length written apart).
pub(crate) fn put_i64s(out: &mut Vec<u8>, v: &[i64]) {
    out.reserve(8 * v.len());
    v.iter().for_each(|n| out.extend_from_slice(&n.to_le_bytes()));
}

/// `s` as [`Bytes::str`] reads it.
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}
