//! The typed events of metrics.jsonl against files written before they were typed: every
//! line reads, and writes back as the same JSON (no field lost, renamed or invented).
use std::path::Path;

use grownet::events::{self, Event, Growth};
use grownet::report::RunSeries;
use serde_json::Value;

const FIXTURES: [&str; 5] = ["cnn-auto-full", "senn", "resnet-tiny", "no-site", "widened"];

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/metrics/{name}.jsonl"))
}

#[test]
fn committed_metrics_read_and_write_back_unchanged() {
    for name in FIXTURES {
        let path = fixture(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let typed = events::read(&path).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(typed.len(), lines.len(), "{name}");
        for (i, (e, line)) in typed.iter().zip(&lines).enumerate() {
            let original: Value = serde_json::from_str(line).unwrap();
            let written = serde_json::to_value(e).unwrap();
            assert_eq!(written, original, "{name} line {}", i + 1);
        }
    }
}

#[test]
fn every_kind_of_event_is_in_the_fixtures() {
    let all: Vec<Event> = FIXTURES
        .iter()
        .flat_map(|n| events::read(&fixture(n)).unwrap())
        .collect();
    let has = |f: &dyn Fn(&Event) -> bool| all.iter().any(f);
    assert!(has(&|e| matches!(e, Event::Start(_))));
    assert!(has(&|e| matches!(e, Event::Epoch(_))));
    assert!(has(&|e| matches!(e, Event::End(_))));
    assert!(has(&|e| matches!(e, Event::GrowthFinished(_))));
    assert!(has(&|e| matches!(e, Event::Widened(_))));
    assert!(has(&|e| matches!(e, Event::Growth(Growth::NoSite(_)))));
    assert!(has(&|e| matches!(e, Event::Growth(Growth::SennRound(_)))));
    assert!(has(
        &|e| matches!(e, Event::Growth(Growth::Step(s)) if s.judgement.is_some())
    ));
    assert!(has(
        &|e| matches!(e, Event::Growth(Growth::SennExpansion(s)) if s.kind == "depth")
    ));
    assert!(has(
        &|e| matches!(e, Event::Growth(Growth::SennExpansion(s)) if s.kind == "width")
    ));
}

#[test]
fn committed_runs_load_as_series() {
    let r = RunSeries::load(&fixture("senn")).unwrap();
    assert!(r.is_complete());
    assert_eq!(r.epochs.len(), 6);
    assert!(r.growth.iter().any(|g| g.accepted && g.neurons_added > 0));
}

/// A missing or malformed field is an error naming the line, never a zero.
#[test]
fn a_damaged_line_is_an_error_that_names_it() {
    let text = std::fs::read_to_string(fixture("resnet-tiny")).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |kind: &str| lines.iter().position(|v| v["event"] == kind).unwrap();
    let damaged = |at: usize, v: Value| {
        let mut all: Vec<String> = lines.iter().map(Value::to_string).collect();
        all[at] = v.to_string();
        events::parse(&all.join("\n")).unwrap_err().to_string()
    };
    let at = find("epoch");
    let mut epoch = lines[at].clone();
    epoch.as_object_mut().unwrap().remove("test_loss");
    let err = damaged(at, epoch);
    assert!(
        err.contains(&format!("line {}", at + 1)) && err.contains("test_loss"),
        "{err}"
    );
    let at = find("growth");
    let mut growth = lines[at].clone();
    growth["neurons_added"] = Value::String("many".into());
    let err = damaged(at, growth);
    assert!(
        err.contains(&format!("line {}", at + 1)) && err.contains("many"),
        "{err}"
    );
    assert!(events::parse("{\"event\":\"banana\"}").is_err());
    assert!(events::parse("{not json").is_err());
}
