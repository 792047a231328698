//! Reading columns out of collected batches, whatever string layout the engine chose.

use arrow::array::{Array, Float64Array, Int64Array, ListArray, StringArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use crate::Result;

/// Run `sql` and collect its batches.
pub async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

/// Column `name` as UTF-8 strings.
pub fn strings(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("plan output has no column {name}"));
    let col = arrow::compute::cast(col, &DataType::Utf8)?;
    Ok(col.as_any().downcast_ref::<StringArray>().expect("Utf8 cast").clone())
}

/// Column `name` as 64-bit integers.
pub fn i64s(batch: &RecordBatch, name: &str) -> Result<Int64Array> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("plan output has no column {name}"));
    let col = arrow::compute::cast(col, &DataType::Int64)?;
    Ok(col.as_any().downcast_ref::<Int64Array>().expect("Int64 cast").clone())
}

/// Column `name` as 64-bit floats.
#[allow(dead_code)]
pub fn f64s(batch: &RecordBatch, name: &str) -> Result<Float64Array> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("plan output has no column {name}"));
    let col = arrow::compute::cast(col, &DataType::Float64)?;
    Ok(col.as_any().downcast_ref::<Float64Array>().expect("Float64 cast").clone())
}

/// Column `name`, a list of strings, as vectors.
pub fn string_lists(batch: &RecordBatch, name: &str) -> Result<Vec<Vec<String>>> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("plan output has no column {name}"));
    let target = DataType::List(std::sync::Arc::new(arrow::datatypes::Field::new_list_field(DataType::Utf8, true)));
    let col = arrow::compute::cast(col, &target)?;
    let list = col.as_any().downcast_ref::<ListArray>().expect("List cast");
    let mut out = Vec::with_capacity(list.len());
    for i in 0..list.len() {
        if list.is_null(i) {
            out.push(Vec::new());
            continue;
        }
        let values = list.value(i);
        let values = values.as_any().downcast_ref::<StringArray>().expect("List<Utf8>");
        out.push(values.iter().flatten().map(str::to_owned).collect());
    }
    Ok(out)
}

/// Column `name`, a list of integers, as vectors.
pub fn i64_lists(batch: &RecordBatch, name: &str) -> Result<Vec<Vec<i64>>> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("plan output has no column {name}"));
    let target = DataType::List(std::sync::Arc::new(arrow::datatypes::Field::new_list_field(DataType::Int64, true)));
    let col = arrow::compute::cast(col, &target)?;
    let list = col.as_any().downcast_ref::<ListArray>().expect("List cast");
    let mut out = Vec::with_capacity(list.len());
    for i in 0..list.len() {
        if list.is_null(i) {
            out.push(Vec::new());
            continue;
        }
        let values = list.value(i);
        let values = values.as_any().downcast_ref::<Int64Array>().expect("List<Int64>");
        out.push(values.iter().flatten().collect());
    }
    Ok(out)
}
