//! Engine tests against a [`Session`] with a collecting sink.

mod ct;
mod dml;
mod misc;
mod perf;
mod triggers;
mod txn;
mod types_extra;
mod verify;

use super::*;

#[derive(Default, Debug)]
pub struct Collect {
    pub sets: Vec<(Vec<ColumnMeta>, Vec<Vec<Value>>)>,
    pub dones: Vec<Done>,
    pub errors: Vec<SqlError>,
    pub infos: Vec<(i32, String)>,
    pub env: Vec<EnvChange>,
}

impl ResultSink for Collect {
    fn columns(&mut self, columns: &[ColumnMeta]) {
        self.sets.push((columns.to_vec(), Vec::new()));
    }
    fn row(&mut self, values: &[Value]) {
        if let Some(s) = self.sets.last_mut() {
            s.1.push(values.to_vec());
        }
    }
    fn done(&mut self, done: Done) {
        self.dones.push(done);
    }
    fn error(&mut self, error: &SqlError) {
        self.errors.push(error.clone());
    }
    fn info(&mut self, number: i32, message: &str) {
        self.infos.push((number, message.to_string()));
    }
    fn env_change(&mut self, change: EnvChange) {
        self.env.push(change);
    }
}

pub fn engine() -> Arc<Engine> {
    Engine::open(EngineOptions {
        database: "testdb".into(),
        data_file: None,
        log_statements: None,
        controls: Arc::new(Controls::default()),
    })
    .expect("engine opens")
}

pub fn run(s: &mut Session, sql: &str) -> Collect {
    let mut c = Collect::default();
    s.execute(sql, &[], &mut c);
    c
}

/// Runs and asserts no error.
pub fn ok(s: &mut Session, sql: &str) -> Collect {
    let c = run(s, sql);
    assert!(c.errors.is_empty(), "{sql}: {:?}", c.errors);
    c
}

pub fn rows(s: &mut Session, sql: &str) -> Vec<Vec<Value>> {
    let c = ok(s, sql);
    c.sets.last().map(|x| x.1.clone()).unwrap_or_default()
}

pub fn err(s: &mut Session, sql: &str) -> SqlError {
    let c = run(s, sql);
    c.errors
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("{sql}: expected an error"))
}

pub fn i(v: i64) -> Value {
    Value::Int(v)
}
pub fn st(v: &str) -> Value {
    Value::String(v.into())
}
