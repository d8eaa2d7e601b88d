//! Reader for tables with a header: CSV, TSV (any one-byte delimiter), raw or gzip-compressed.
//!
//! One column is the target (`data.target`); the others are the features, except those in
//! `data.ignore_columns`. The rules, fixed on the training file and applied unchanged to a
//! test file:
//!
//! - **Numeric columns** (every present cell a number) are one feature each.
//! - **Categorical columns** (some cell not a number) are one-hot encoded: one feature per
//!   distinct value of the training file, in sorted order, named `column=value`. A column with
//!   more than `data.max_categories` values is refused (it is an identifier, free text or a
//!   numeric column with a typo; the message names the first cell that is not a number). A
//!   value of a test file that the training file lacks is encoded as all zeros.
//! - **Missing cells** (empty, `NA`, `N/A`, `NaN`, `null`, `None`, `?`): refused by default,
//!   naming the row and the column; with `data.missing = "impute"` a feature cell becomes NaN
//!   here and the training split's column mean later (for a categorical column, every one of
//!   its features: the training frequencies of the categories). A missing target is refused.
//! - **The task** (`data.task = "auto"`): a target with a non-numeric value, or of integers
//!   with at most [`AUTO_MAX_CLASSES`] distinct values, is a classification (classes are the
//!   distinct values, sorted: numerically for integers); any other numeric target a
//!   regression.
//!
//! Rows are counted from 1 after the header; errors give the row and the file's line.
//!
//! ```
//! use std::path::Path;
//! use grownet::data::formats::csv::{parse_table, CsvOptions, TableTarget};
//! let text = "size,colour,kind\n1.5,red,a\n2.0,blue,b\n0.5,red,a\n";
//! let opts = CsvOptions::new("kind");
//! let t = parse_table(text.as_bytes(), Path::new("t.csv"), &opts, None).unwrap();
//! assert_eq!(t.features, ["size", "colour=blue", "colour=red"]);
//! assert_eq!(t.x, [1.5, 0.0, 1.0, 2.0, 1.0, 0.0, 0.5, 0.0, 1.0]);
//! assert!(matches!(&t.target, TableTarget::Classes { labels, .. } if labels == &[0, 1, 0]));
//!
//! let ragged = "size,colour,kind\n1.5,red\n";
//! let e = parse_table(ragged.as_bytes(), Path::new("t.csv"), &opts, None).unwrap_err();
//! assert_eq!(e.to_string(), "t.csv: row 1 (line 2): 2 fields, but the header has 3");
//! ```
use std::path::Path;

use super::read_maybe_gz;
use crate::data::choices::{Missing, TaskChoice, AUTO_MAX_CLASSES};
use crate::error::DataError;

/// How to read a table.
#[derive(Clone, Debug)]
pub struct CsvOptions {
    pub delimiter: u8,
    pub target: String,
    pub task: TaskChoice,
    pub missing: Missing,
    pub max_categories: usize,
    pub ignore: Vec<String>,
}

impl CsvOptions {
    /// Comma-separated, `target` predicted, the defaults of `[data]` otherwise.
    pub fn new(target: &str) -> Self {
        CsvOptions {
            delimiter: b',',
            target: target.to_string(),
            task: TaskChoice::Auto,
            missing: Missing::Refuse,
            max_categories: 32,
            ignore: Vec::new(),
        }
    }
}

/// What a column is, fixed on the training file.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnKind {
    Numeric,
    /// The sorted distinct values.
    Categorical(Vec<String>),
}

/// How a table is read into numbers: its columns and target, from the training file.
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    /// Feature columns: name and kind, in file order.
    pub columns: Vec<(String, ColumnKind)>,
    pub target: String,
    /// Class names (sorted), or `None` for a regression.
    pub classes: Option<Vec<String>>,
}

/// The targets of a table.
#[derive(Clone, Debug, PartialEq)]
pub enum TableTarget {
    /// Class indices into `names`.
    Classes {
        labels: Vec<i64>,
        names: Vec<String>,
    },
    Values(Vec<f32>),
}

/// A table read into numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Feature names after encoding (`column` or `column=value`).
    pub features: Vec<String>,
    /// `rows × features.len()` values, row-major; NaN where a cell was missing (imputed later).
    pub x: Vec<f32>,
    pub rows: usize,
    pub target: TableTarget,
    /// The schema, to read a test file the same way.
    pub schema: Schema,
}

impl Table {
    /// `4 numeric + 1 categorical columns → 7 features`.
    pub fn describe(&self) -> String {
        let cats = (self.schema.columns.iter())
            .filter(|(_, k)| matches!(k, ColumnKind::Categorical(_)))
            .count();
        format!(
            "{} numeric + {cats} categorical columns → {} features",
            self.schema.columns.len() - cats,
            self.features.len()
        )
    }
}

/// A file's header and rows (with their line numbers), as text.
struct Records {
    header: Vec<String>,
    rows: Vec<(u64, ::csv::StringRecord)>,
}

/// Reads a table file (gzip recognised by content). `schema`: the training file's, when
/// this is a test file.
pub fn read_table(
    path: &Path,
    opts: &CsvOptions,
    schema: Option<&Schema>,
) -> Result<Table, DataError> {
    let bytes = read_maybe_gz(path)?;
    parse_table(&bytes, path, opts, schema)
}

/// Parses a table held in memory; `path` names it in errors.
pub fn parse_table(
    bytes: &[u8],
    path: &Path,
    opts: &CsvOptions,
    schema: Option<&Schema>,
) -> Result<Table, DataError> {
    let records = read_records(bytes, path, opts.delimiter)?;
    let schema = match schema {
        Some(s) => s.clone(),
        None => fit_schema(&records, path, opts)?,
    };
    encode(&records, path, &schema, opts)
}

fn row_at(row: usize, line: u64) -> String {
    format!("row {row} (line {line})")
}

fn cell_at(row: usize, line: u64, column: &str) -> String {
    format!("row {row} (line {line}), column '{column}'")
}

fn read_records(bytes: &[u8], path: &Path, delimiter: u8) -> Result<Records, DataError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .trim(::csv::Trim::All)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(e, path))?
        .iter()
        .map(str::to_string)
        .collect();
    check_header(&header, path, delimiter)?;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(e, path))?;
        let line = record.position().map_or(0, |p| p.line());
        rows.push((line, record));
    }
    if rows.is_empty() {
        return Err(DataError::malformed(
            path,
            "file",
            "no data rows after the header",
        ));
    }
    Ok(Records { header, rows })
}

fn check_header(header: &[String], path: &Path, delimiter: u8) -> Result<(), DataError> {
    if header.iter().all(String::is_empty) {
        return Err(DataError::malformed(
            path,
            "header",
            "the file is empty or has no header",
        ));
    }
    if let Some(i) = header.iter().position(String::is_empty) {
        return Err(DataError::malformed(
            path,
            "header",
            format!("column {} has no name", i + 1),
        ));
    }
    if header.len() == 1 && delimiter == b',' && header[0].contains('\t') {
        return Err(DataError::malformed(
            path,
            "header",
            "one column whose name holds tabs: a tab-separated file? use tsv:PATH",
        ));
    }
    for (i, name) in header.iter().enumerate() {
        if header[..i].contains(name) {
            return Err(DataError::malformed(
                path,
                "header",
                format!("column '{name}' appears twice"),
            ));
        }
    }
    Ok(())
}

/// A csv crate error as a [`DataError`] naming the row.
fn csv_error(e: ::csv::Error, path: &Path) -> DataError {
    let row = |pos: &::csv::Position| row_at(pos.record() as usize, pos.line());
    match e.into_kind() {
        ::csv::ErrorKind::Io(e) => DataError::io(path, e),
        ::csv::ErrorKind::Utf8 {
            pos: Some(pos),
            err,
        } => DataError::malformed(
            path,
            row(&pos),
            format!("field {} is not UTF-8 text", err.field() + 1),
        ),
        ::csv::ErrorKind::UnequalLengths {
            pos: Some(pos),
            expected_len,
            len,
        } => DataError::malformed(
            path,
            row(&pos),
            format!("{len} fields, but the header has {expected_len}"),
        ),
        kind => DataError::malformed(path, "file", format!("{kind:?}")),
    }
}

/// Empty, `NA`, `N/A`, `NaN`, `null`, `None` or `?`.
pub fn is_missing(cell: &str) -> bool {
    const TOKENS: [&str; 6] = ["na", "n/a", "nan", "null", "none", "?"];
    cell.is_empty() || TOKENS.iter().any(|t| cell.eq_ignore_ascii_case(t))
}

/// The index of every column name in `names`, or an error naming the one absent.
fn column_index(
    header: &[String],
    name: &str,
    path: &Path,
    what: &str,
) -> Result<usize, DataError> {
    header.iter().position(|h| h == name).ok_or_else(|| {
        DataError::malformed(
            path,
            "header",
            format!(
                "no column '{name}' ({what}); the columns are {}",
                header
                    .iter()
                    .map(|h| format!("'{h}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

fn fit_schema(records: &Records, path: &Path, opts: &CsvOptions) -> Result<Schema, DataError> {
    let target = column_index(
        &records.header,
        &opts.target,
        path,
        "the target, data.target",
    )?;
    for name in &opts.ignore {
        column_index(&records.header, name, path, "in data.ignore_columns")?;
    }
    let mut columns = Vec::new();
    for (c, name) in records.header.iter().enumerate() {
        if c != target && !opts.ignore.contains(name) {
            columns.push((
                name.clone(),
                column_kind(records, c, path, opts.max_categories)?,
            ));
        }
    }
    let classes = target_classes(records, target, path, opts.task)?;
    Ok(Schema {
        columns,
        target: opts.target.clone(),
        classes,
    })
}

/// Numeric when every present cell is a number, else categorical (with a bounded number of
/// values).
fn column_kind(
    records: &Records,
    c: usize,
    path: &Path,
    max: usize,
) -> Result<ColumnKind, DataError> {
    let name = &records.header[c];
    let cells = records
        .rows
        .iter()
        .map(|(_, r)| &r[c])
        .filter(|s| !is_missing(s));
    let mut values: Vec<&str> = cells.clone().collect();
    if values.is_empty() {
        return Err(DataError::malformed(
            path,
            format!("column '{name}'"),
            "every cell is missing (leave the column out with data.ignore_columns)",
        ));
    }
    let Some(first) = cells.enumerate().find(|(_, s)| s.parse::<f64>().is_err()) else {
        return Ok(ColumnKind::Numeric);
    };
    values.sort_unstable();
    values.dedup();
    if values.len() > max {
        let (i, cell) = first;
        let (row, line) = nth_present(records, c, i);
        return Err(DataError::malformed(
            path,
            format!("column '{name}'"),
            format!(
                "not numeric ({}: '{cell}' is not a number) and {} distinct values, more than \
                 data.max_categories = {max}: fix the cell if the column is numeric, raise \
                 data.max_categories if it is a category, or leave it out with \
                 data.ignore_columns",
                row_at(row, line),
                values.len()
            ),
        ));
    }
    Ok(ColumnKind::Categorical(
        values.into_iter().map(str::to_string).collect(),
    ))
}

/// Row number (from 1) and line of the `i`-th present cell of column `c`.
fn nth_present(records: &Records, c: usize, i: usize) -> (usize, u64) {
    (records.rows.iter().enumerate())
        .filter(|(_, (_, r))| !is_missing(&r[c]))
        .nth(i)
        .map_or((0, 0), |(k, (line, _))| (k + 1, *line))
}

/// The class names of a classification target, `None` for a regression.
fn target_classes(
    records: &Records,
    t: usize,
    path: &Path,
    task: TaskChoice,
) -> Result<Option<Vec<String>>, DataError> {
    let name = &records.header[t];
    for (k, (line, r)) in records.rows.iter().enumerate() {
        if is_missing(&r[t]) {
            return Err(DataError::malformed(
                path,
                cell_at(k + 1, *line, name),
                format!("the target is missing ('{}'): drop the row", &r[t]),
            ));
        }
    }
    let cells: Vec<&str> = records.rows.iter().map(|(_, r)| &r[t]).collect();
    let ints: Option<Vec<i64>> = cells.iter().map(|s| s.parse::<i64>().ok()).collect();
    let numeric = cells.iter().all(|s| s.parse::<f64>().is_ok());
    let mut distinct: Vec<&str> = cells.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let classify = match task {
        TaskChoice::Classification => true,
        TaskChoice::Regression => false,
        TaskChoice::Auto => !numeric || (ints.is_some() && distinct.len() <= AUTO_MAX_CLASSES),
    };
    if !classify {
        return Ok(None);
    }
    if distinct.len() < 2 {
        return Err(DataError::malformed(
            path,
            format!("column '{name}'"),
            format!(
                "the target has a single value ('{}'): nothing to classify",
                cells[0]
            ),
        ));
    }
    let mut names: Vec<String> = distinct.iter().map(|s| s.to_string()).collect();
    if ints.is_some() {
        names.sort_by_key(|s| s.parse::<i64>().unwrap_or(0));
    }
    Ok(Some(names))
}

/// The rows as numbers under `schema`.
fn encode(
    records: &Records,
    path: &Path,
    schema: &Schema,
    opts: &CsvOptions,
) -> Result<Table, DataError> {
    let header = &records.header;
    let mut index = Vec::new();
    for (name, _) in &schema.columns {
        index.push(column_index(
            header,
            name,
            path,
            "a feature of the training file",
        )?);
    }
    let t = column_index(header, &schema.target, path, "the target, data.target")?;
    let features = feature_names(schema);
    let mut x = Vec::with_capacity(records.rows.len() * features.len());
    for (k, (line, r)) in records.rows.iter().enumerate() {
        for ((name, kind), &c) in schema.columns.iter().zip(&index) {
            let at = || cell_at(k + 1, *line, name);
            encode_cell(&r[c], kind, opts.missing, &mut x)
                .map_err(|detail| DataError::malformed(path, at(), detail))?;
        }
    }
    let target = encode_target(records, t, path, schema)?;
    Ok(Table {
        features,
        x,
        rows: records.rows.len(),
        target,
        schema: schema.clone(),
    })
}

fn feature_names(schema: &Schema) -> Vec<String> {
    let mut names = Vec::new();
    for (name, kind) in &schema.columns {
        match kind {
            ColumnKind::Numeric => names.push(name.clone()),
            ColumnKind::Categorical(values) => {
                names.extend(values.iter().map(|v| format!("{name}={v}")));
            }
        }
    }
    names
}

/// Appends one cell's features, or says what is wrong with it.
fn encode_cell(
    cell: &str,
    kind: &ColumnKind,
    missing: Missing,
    x: &mut Vec<f32>,
) -> Result<(), String> {
    let width = match kind {
        ColumnKind::Numeric => 1,
        ColumnKind::Categorical(values) => values.len(),
    };
    if is_missing(cell) {
        return match missing {
            Missing::Impute => {
                x.extend(std::iter::repeat_n(f32::NAN, width));
                Ok(())
            }
            Missing::Refuse => Err(format!(
                "missing value ('{cell}'): fill it in, leave the column out with \
                 data.ignore_columns, or set data.missing = \"impute\" (training mean)"
            )),
        };
    }
    match kind {
        ColumnKind::Numeric => match cell.parse::<f64>() {
            Ok(v) if v.is_finite() && v.abs() <= f64::from(f32::MAX) => {
                x.push(v as f32);
                Ok(())
            }
            Ok(_) => Err(format!("'{cell}' is not a finite number")),
            Err(_) => Err(format!(
                "'{cell}' is not a number (the column is numeric in the training file)"
            )),
        },
        ColumnKind::Categorical(values) => {
            x.extend(values.iter().map(|v| if v == cell { 1.0 } else { 0.0 }));
            Ok(())
        }
    }
}

fn encode_target(
    records: &Records,
    t: usize,
    path: &Path,
    schema: &Schema,
) -> Result<TableTarget, DataError> {
    let name = &schema.target;
    let mut labels = Vec::new();
    let mut values = Vec::new();
    for (k, (line, r)) in records.rows.iter().enumerate() {
        let cell = &r[t];
        let at = || cell_at(k + 1, *line, name);
        if is_missing(cell) {
            return Err(DataError::malformed(
                path,
                at(),
                format!("the target is missing ('{cell}'): drop the row"),
            ));
        }
        match &schema.classes {
            Some(names) => match names.iter().position(|n| n == cell) {
                Some(i) => labels.push(i as i64),
                None => {
                    return Err(DataError::malformed(
                        path,
                        at(),
                        format!("class '{cell}' is not one of the training file's classes"),
                    ))
                }
            },
            None => match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => values.push(v as f32),
                _ => {
                    return Err(DataError::malformed(
                        path,
                        at(),
                        format!("'{cell}' is not a finite number (the target is a regression)"),
                    ))
                }
            },
        }
    }
    Ok(match &schema.classes {
        Some(names) => TableTarget::Classes {
            labels,
            names: names.clone(),
        },
        None => TableTarget::Values(values),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, opts: &CsvOptions) -> Result<Table, DataError> {
        parse_table(text.as_bytes(), Path::new("t.csv"), opts, None)
    }

    fn err(text: &str, opts: &CsvOptions) -> String {
        parse(text, opts).unwrap_err().to_string()
    }

    #[test]
    fn integer_targets_are_classes_and_floats_a_regression() {
        let t = parse("a,y\n1,10\n2,3\n3,10\n", &CsvOptions::new("y")).unwrap();
        assert_eq!(
            t.target,
            TableTarget::Classes {
                labels: vec![1, 0, 1],
                names: vec!["3".into(), "10".into()]
            }
        );
        let t = parse("a,y\n1,0.5\n2,1\n", &CsvOptions::new("y")).unwrap();
        assert_eq!(t.target, TableTarget::Values(vec![0.5, 1.0]));
        let mut opts = CsvOptions::new("y");
        opts.task = TaskChoice::Regression;
        let t = parse("a,y\n1,10\n2,3\n", &opts).unwrap();
        assert_eq!(t.target, TableTarget::Values(vec![10.0, 3.0]));
        opts.task = TaskChoice::Classification;
        let t = parse("a,y\n1,0.5\n2,1.5\n", &opts).unwrap();
        assert!(matches!(t.target, TableTarget::Classes { .. }));
        // Many distinct integers: a regression under auto.
        let many: String = (0..30).map(|i| format!("{i},{i}\n")).collect();
        let t = parse(&format!("a,y\n{many}"), &CsvOptions::new("y")).unwrap();
        assert!(matches!(t.target, TableTarget::Values(_)));
    }

    #[test]
    fn tabs_ignored_columns_and_a_test_file() {
        let mut opts = CsvOptions::new("y");
        opts.delimiter = b'\t';
        opts.ignore = vec!["id".into()];
        let train = parse("id\tc\ty\n7\tu\ta\n8\tv\tb\n", &opts).unwrap();
        assert_eq!(train.features, ["c=u", "c=v"]);
        // Another column order, an unseen category (all zeros).
        let test = parse_table(
            b"y\tc\tid\nb\tw\t1\na\tv\t2\n",
            Path::new("test.tsv"),
            &opts,
            Some(&train.schema),
        )
        .unwrap();
        assert_eq!(test.x, [0.0, 0.0, 0.0, 1.0]);
        let e = parse_table(
            b"y\tc\nc\tu\n",
            Path::new("test.tsv"),
            &opts,
            Some(&train.schema),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "test.tsv: row 1 (line 2), column 'y': class 'c' is not one of the training file's classes"
        );
    }

    #[test]
    fn missing_values_are_refused_or_imputed() {
        let text = "a,b,y\n1,x,0\n,y,1\nNA,?,0\n";
        assert_eq!(
            err(text, &CsvOptions::new("y")),
            "t.csv: row 2 (line 3), column 'a': missing value (''): fill it in, leave the column \
             out with data.ignore_columns, or set data.missing = \"impute\" (training mean)"
        );
        let mut opts = CsvOptions::new("y");
        opts.missing = Missing::Impute;
        let t = parse(text, &opts).unwrap();
        assert_eq!(t.x[..3], [1.0, 1.0, 0.0]);
        assert!(t.x[3].is_nan() && t.x[6..].iter().all(|v| v.is_nan()));
        let e = err("a,y\n1,0\n2,\n", &opts);
        assert!(
            e.contains("row 2 (line 3), column 'y': the target is missing"),
            "{e}"
        );
    }

    #[test]
    fn corrupt_tables_are_named_errors() {
        let opts = CsvOptions::new("y");
        let cases = [
            ("a,y\n1,0\n2,1,5\n", "t.csv: row 2 (line 3): 3 fields, but the header has 2"),
            ("a,y\n", "t.csv: file: no data rows after the header"),
            ("", "t.csv: header: the file is empty or has no header"),
            ("a,,y\n1,2,3\n", "t.csv: header: column 2 has no name"),
            ("a,a,y\n1,2,3\n", "t.csv: header: column 'a' appears twice"),
            ("a,b\n1,2\n", "t.csv: header: no column 'y' (the target, data.target); the columns are 'a', 'b'"),
            ("a,y\n1,0\n2,0\n", "t.csv: column 'y': the target has a single value ('0'): nothing to classify"),
            ("a\ty\n1\t0\n", "t.csv: header: one column whose name holds tabs: a tab-separated file? use tsv:PATH"),
            ("a,y\n1e999,0\n2,1\n", "t.csv: row 1 (line 2), column 'a': '1e999' is not a finite number"),
        ];
        for (text, want) in cases {
            assert_eq!(err(text, &opts), want, "{text:?}");
        }
        let bad_utf8 = b"a,y\n\xff\xfe,1\n2,0\n";
        let e = parse_table(bad_utf8, Path::new("t.csv"), &opts, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.csv: row 1 (line 2): field 1 is not UTF-8 text"
        );
        let mut opts = CsvOptions::new("y");
        opts.ignore = vec!["zz".into()];
        assert!(err("a,y\n1,0\n", &opts).contains("no column 'zz' (in data.ignore_columns)"));
    }

    #[test]
    fn a_non_numeric_cell_in_a_wide_column_is_pointed_at() {
        let mut text = String::from("a,y\n");
        for i in 0..40 {
            text.push_str(&format!("{}.5,{}\n", i, i % 2));
        }
        text.push_str("1.2.3,0\n");
        let e = err(&text, &CsvOptions::new("y"));
        assert!(
            e.starts_with("t.csv: column 'a': not numeric (row 41 (line 42): '1.2.3' is not a number) and 41 distinct values, more than data.max_categories = 32"),
            "{e}"
        );
        // A test file's non-numeric cell in a numeric column.
        let train = parse("a,y\n1,0\n2,1\n", &CsvOptions::new("y")).unwrap();
        let e = parse_table(
            b"a,y\nx,0\n",
            Path::new("t.csv"),
            &CsvOptions::new("y"),
            Some(&train.schema),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("row 1 (line 2), column 'a': 'x' is not a number"),
            "{e}"
        );
    }
}
