use super::*;

fn query(raw: &str) -> Query {
    Query::of(Some(raw))
}

#[test]
fn a_flag_is_true_or_false_in_any_case_given_once() {
    assert!(!Query::of(None).flag("export").unwrap());
    assert!(query("export=TRUE").flag("export").unwrap());
    assert!(!query("follow=False").flag("follow").unwrap());
    // The name in any case: a mistyped case is never an ignored parameter.
    assert!(query("dryrun=true").flag("dryRun").unwrap());
    assert!(query("Follow=true").flag("follow").unwrap());
    assert_eq!(
        query("export=garbage").flag("export").unwrap_err(),
        Invalid::field_message(
            "export",
            "Parameter 'export' must be 'true' or 'false' but is 'garbage'."
        )
    );
    for refused in ["previous=", "previous", "previous=1", "previous=%20true"] {
        assert!(query(refused).flag("previous").is_err(), "{refused}");
    }
    assert_eq!(
        query("dryRun=true&dryrun=false")
            .flag("dryRun")
            .unwrap_err()
            .to_string(),
        "Parameter 'dryRun' must be given at most once."
    );
}

#[test]
fn naturals_in_their_range() {
    let pagesize = |raw| query(raw).natural("pagesize", 1..=250, 20);
    assert_eq!(Query::of(None).natural("pagesize", 1..=250, 20), Ok(20));
    assert_eq!(pagesize("pagesize=250"), Ok(250));
    assert_eq!(
        pagesize("pagesize=-1").unwrap_err().to_string(),
        "Parameter 'pagesize' must be a natural number but is '-1'."
    );
    for bad in [
        "pagesize=0",
        "pagesize=251",
        "pagesize=x",
        "pagesize=1&pagesize=2",
    ] {
        assert!(pagesize(bad).is_err(), "{bad}");
    }
}

#[test]
fn search_is_bounded_and_kept_as_given() {
    assert_eq!(query("search=%20a%25b").search(), Ok(Some(" a%b".into())));
    assert_eq!(Query::of(None).search(), Ok(None));
    let long = format!("search={}", "x".repeat(MAX_SEARCH_CHARS + 1));
    let refused = query(&long).search().unwrap_err();
    assert!(refused.to_string().contains("at most 1024"), "{refused}");
    assert!(query(&format!("search={}", "é".repeat(MAX_SEARCH_CHARS)))
        .search()
        .is_ok());
}

#[test]
fn statuses_are_the_domain_names_in_any_case() {
    assert_eq!(
        query("status=failed,%20STOPPED&status=Running_But_Outdated").statuses("status"),
        Ok(vec![
            BeltStatus::Failed,
            BeltStatus::Stopped,
            BeltStatus::RunningButOutdated
        ])
    );
    assert_eq!(
        query("status=banana")
            .statuses("status")
            .unwrap_err()
            .to_string(),
        "Parameter 'status' must name belt states (RUNNING, FAILED, RUNNING_BUT_OUTDATED, \
         DEPLOYING, STOPPED) but is 'banana'."
    );
    assert_eq!(query("status=,").statuses("status"), Ok(vec![]));
}

#[test]
fn since_is_a_time_or_a_kubectl_duration_before_now() {
    let now = time::macros::datetime!(2026-01-01 12:00:00 UTC);
    let at = |raw: &str| query(raw).since(now);
    assert_eq!(
        at("since=30s"),
        Ok(Some(time::macros::datetime!(2026-01-01 11:59:30 UTC)))
    );
    assert_eq!(
        at("since=10m"),
        Ok(Some(time::macros::datetime!(2026-01-01 11:50:00 UTC)))
    );
    assert_eq!(
        at("since=2h"),
        Ok(Some(time::macros::datetime!(2026-01-01 10:00:00 UTC)))
    );
    assert_eq!(
        at("since=2026-01-01T13:00:00%2B02:00"),
        Ok(Some(time::macros::datetime!(2026-01-01 11:00:00 UTC)))
    );
    assert_eq!(at("lines=3"), Ok(None));
    for bad in [
        "",
        "s",
        "10",
        "-5m",
        "1.5h",
        "10d",
        "9000h",
        "99999999999999999999h",
        "yesterday",
    ] {
        let refused = at(&format!("since={bad}")).unwrap_err();
        assert!(
            refused.to_string().starts_with("Parameter 'since' must be"),
            "{bad}: {refused}"
        );
    }
}

#[test]
fn a_value_refused_by_its_parser_names_the_parameter() {
    let after = |raw| query(raw).value("after", "an event id", |t| t.parse::<u32>().ok());
    assert_eq!(after("after=7"), Ok(Some(7)));
    assert_eq!(
        after("after=x").unwrap_err().to_string(),
        "Parameter 'after' must be an event id but is 'x'."
    );
}

#[test]
fn the_document_bounds_search_as_the_query_does() {
    // utoipa takes only a literal for `max_length`: this holds the two declarations together.
    let document = serde_json::to_value(crate::http::openapi::document()).unwrap();
    let mut bounded = 0;
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["name"] == "search" {
                    assert_eq!(parameter["schema"]["maxLength"], MAX_SEARCH_CHARS);
                    bounded += 1;
                }
            }
        }
    }
    assert!(bounded >= 2, "the listing and the bulk call take a search");
}
