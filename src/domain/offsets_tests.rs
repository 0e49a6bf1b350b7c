use super::*;

fn position(
    partition: i32,
    committed: Option<i64>,
    log_start: i64,
    log_end: i64,
) -> PartitionPosition {
    PartitionPosition {
        topic: "grnry_data_in_a".into(),
        partition,
        committed,
        log_start,
        log_end,
    }
}

#[test]
fn lag_counts_what_the_group_has_yet_to_read() {
    assert_eq!(position(0, Some(3), 0, 10).lag(), 7);
    assert_eq!(
        position(0, None, 0, 10).lag(),
        10,
        "no commit: from the oldest record"
    );
    assert_eq!(position(0, None, 4, 10).lag(), 6);
    assert_eq!(
        position(0, Some(2), 4, 10).lag(),
        6,
        "expired records are not waiting"
    );
    assert_eq!(position(0, Some(10), 0, 10).lag(), 0);
    assert_eq!(position(0, None, 0, 0).lag(), 0);
    let all = [position(0, Some(3), 0, 10), position(1, None, 0, 5)];
    assert_eq!(total_lag(&all), 12);
}

fn parsed(body: &str) -> Result<OffsetsWrite, String> {
    OffsetsWrite::parse(body.as_bytes()).map_err(|e| e.to_string())
}

#[test]
fn the_body_names_a_reset_or_partitions() {
    assert_eq!(
        parsed(r#"{"reset": "earliest"}"#),
        Ok(OffsetsWrite::Earliest)
    );
    assert_eq!(parsed(r#"{"reset": "LATEST"}"#), Ok(OffsetsWrite::Latest));
    assert_eq!(
        parsed(r#"{"offsets": [{"topic": "t", "partition": 1, "offset": 5}]}"#),
        Ok(OffsetsWrite::Explicit(vec![PartitionOffset {
            topic: "t".into(),
            partition: 1,
            offset: 5
        }]))
    );
    let refusals = [
        ("{}", "Parameter 'reset' is required"),
        (
            r#"{"reset": "middle"}"#,
            "Parameter 'reset' must be 'earliest' or 'latest' but is 'middle'.",
        ),
        (
            r#"{"reset": 1}"#,
            "Parameter 'reset' must be 'earliest' or 'latest' but is '1'.",
        ),
        (
            r#"{"reset": "earliest", "offsets": []}"#,
            "Parameter 'reset' cannot be given",
        ),
        (r#"{"offsets": {}}"#, "Parameter 'offsets' must be a list"),
        (
            r#"{"offsets": []}"#,
            "Parameter 'offsets' must name at least one partition.",
        ),
        (
            r#"{"offsets": [3]}"#,
            "Parameter 'offsets[0]' must be an object",
        ),
        (
            r#"{"offsets": [{"partition": 0, "offset": 0}]}"#,
            "Parameter 'offsets[0].topic' is required",
        ),
        (
            r#"{"offsets": [{"topic": "t", "partition": -1, "offset": 0}]}"#,
            "Parameter 'offsets[0].partition' must be a natural number but is '-1'.",
        ),
        (
            r#"{"offsets": [{"topic": "t", "partition": 0, "offset": 1}, {"topic": "t", "partition": 0, "offset": -5}]}"#,
            "Parameter 'offsets[1].offset' must be a natural number but is '-5'.",
        ),
        (
            r#"{"offsets": [{"topic": "t", "partition": 0, "offset": "7"}]}"#,
            "Parameter 'offsets[0].offset' must be a natural number but is '7'.",
        ),
        ("[]", "Request body must be a JSON object"),
    ];
    for (body, expected) in refusals {
        let message = parsed(body).unwrap_err();
        assert!(message.starts_with(expected), "{body}: {message}");
    }
}

#[test]
fn explicit_offsets_must_name_partitions_of_the_belt() {
    let topics = vec!["grnry_data_in_a".to_string()];
    let positions = [position(0, None, 0, 10), position(1, Some(2), 0, 4)];
    let explicit = |topic: &str, partition, offset| {
        OffsetsWrite::Explicit(vec![PartitionOffset {
            topic: topic.into(),
            partition,
            offset,
        }])
        .offsets_to_commit(&topics, &positions)
        .map_err(|e| e.to_string())
    };
    assert_eq!(explicit("grnry_data_in_a", 1, 4).unwrap().len(), 1);
    assert_eq!(
        explicit("grnry_data_in_b", 0, 0).unwrap_err(),
        "Parameter 'offsets[0].topic' must be one of the belt's input topics (grnry_data_in_a) \
         but is 'grnry_data_in_b'."
    );
    assert_eq!(
        explicit("grnry_data_in_a", 2, 0).unwrap_err(),
        "Parameter 'offsets[0].partition' must be a partition of 'grnry_data_in_a' (it has 2) \
         but is '2'."
    );
    assert_eq!(
        explicit("grnry_data_in_a", 1, 5).unwrap_err(),
        "Parameter 'offsets[0].offset' must be at most the partition's log-end offset 4 but is '5'."
    );
    let earliest = OffsetsWrite::Earliest
        .offsets_to_commit(&topics, &positions)
        .unwrap();
    assert_eq!(
        earliest.iter().map(|o| o.offset).collect::<Vec<_>>(),
        [0, 0]
    );
    let latest = OffsetsWrite::Latest
        .offsets_to_commit(&topics, &positions)
        .unwrap();
    assert_eq!(latest.iter().map(|o| o.offset).collect::<Vec<_>>(), [10, 4]);
}
