//! README.md against the committed files: every number of its "Measured results" section comes
//! from (or is computed from) the file under bench/results/ that its comment names, and every
//! relative link in README.md, docs/ and bench/results/ resolves. The check itself is
//! scripts/check-readme.py (its rules are at its top); this test runs it, first on its own
//! made-up cases (a wrong number, a wrong derived value, an unsourced table, a broken link must
//! each fail), then on the repository.
use std::path::Path;
use std::process::{Command, Output};

/// `python3 scripts/check-readme.py ARGS` from the crate root, or None when there is no python3.
fn check_readme(args: &[&str]) -> Option<Output> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match Command::new("python3")
        .arg(root.join("scripts/check-readme.py"))
        .args(args)
        .current_dir(root)
        .output()
    {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED: python3 is not installed, so scripts/check-readme.py did not run");
            None
        }
        Err(e) => panic!("cannot run python3 scripts/check-readme.py: {e}"),
    }
}

fn report(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_readme_checker_catches_its_own_made_up_mistakes() {
    let Some(out) = check_readme(&["--self-test"]) else {
        return;
    };
    println!("{}", report(&out));
    assert!(
        out.status.success(),
        "scripts/check-readme.py --self-test failed: its output is above"
    );
}

#[test]
fn readme_numbers_and_links_match_the_committed_files() {
    let Some(out) = check_readme(&[]) else {
        return;
    };
    println!("{}", report(&out));
    assert!(
        out.status.success(),
        "README.md or a committed report does not match the files under bench/results/: \
         scripts/check-readme.py's output is above, its rules at its top"
    );
}
