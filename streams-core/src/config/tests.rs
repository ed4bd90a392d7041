//! Unit tests of [`StreamsConfig`](super::StreamsConfig).

use super::*;

#[test]
fn restore_consumers_do_not_back_off_a_second_when_their_queue_fills() {
    let mut config = StreamsConfig::new();
    let backoff = |config: &StreamsConfig, kind| {
        config
            .client_properties(kind)
            .get("fetch.queue.backoff.ms")
            .cloned()
    };
    assert_eq!(
        backoff(&config, ClientKind::RestoreConsumer).as_deref(),
        Some("10")
    );
    assert_eq!(backoff(&config, ClientKind::Consumer), None);
    config.set("restore.consumer.fetch.queue.backoff.ms", "500");
    assert_eq!(
        backoff(&config, ClientKind::RestoreConsumer).as_deref(),
        Some("500"),
        "the user's setting wins"
    );
}

#[test]
fn environment_variables_name_properties() {
    let mut config = StreamsConfig::new();
    config.set("application.id", "from-file");
    config.set_from_vars(
        "STREAMS_",
        [
            ("STREAMS_APPLICATION_ID".to_string(), "from-env".to_string()),
            (
                "STREAMS_CONSUMER_SESSION_TIMEOUT_MS".to_string(),
                "6000".to_string(),
            ),
            ("STREAMS_".to_string(), "ignored".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ],
    );
    assert_eq!(config.get("application.id"), Some("from-env"));
    assert_eq!(config.get("consumer.session.timeout.ms"), Some("6000"));
    assert_eq!(config.get("home"), None);
}

#[test]
fn a_properties_file_with_comments_continuations_and_escapes() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("app.properties");
    std::fs::write(
        &path,
        "# fraud detector\n! another comment\napplication.id = fraud\nbootstrap.servers: a:9092,\\\n    b:9092\nsasl.password=p\\=q\n",
    )
    .expect("write");
    let config = StreamsConfig::from_properties_file(&path).expect("read");
    assert_eq!(config.get("application.id"), Some("fraud"));
    assert_eq!(config.get("bootstrap.servers"), Some("a:9092,b:9092"));
    assert_eq!(config.get("sasl.password"), Some("p=q"));
    assert!(
        StreamsConfig::from_properties_file(dir.path().join("missing"))
            .is_err_and(|e| e.to_string().contains("missing")),
        "a missing file is named"
    );
}

#[test]
fn topic_prefixed_properties_configure_internal_topics_only() {
    let mut config = StreamsConfig::new();
    config
        .set("topic.segment.bytes", "1048576")
        .set("topic.cleanup.policy", "delete")
        .set("errors.dead.letter.queue.topic.name", "dlq");
    assert_eq!(
        config.internal_topic_configs(),
        vec![("segment.bytes".to_string(), "1048576".to_string())]
    );
    assert!(
        !config
            .client_properties(ClientKind::Consumer)
            .contains_key("topic.segment.bytes"),
        "topic configs are not client properties"
    );
}

#[test]
fn client_properties_pass_through_and_prefixes_win() {
    let mut config = StreamsConfig::new();
    config
        .set("application.id", "app")
        .set("bootstrap.servers", "b:9092")
        .set("linger.ms", "5")
        .set("producer.linger.ms", "50")
        .set("consumer.fetch.min.bytes", "10")
        .set("restore.consumer.fetch.min.bytes", "99");
    let producer = config.client_properties(ClientKind::Producer);
    assert_eq!(producer.get("linger.ms").map(String::as_str), Some("50"));
    assert_eq!(
        producer.get("bootstrap.servers").map(String::as_str),
        Some("b:9092")
    );
    assert!(!producer.contains_key("application.id"));
    assert!(!producer.contains_key("fetch.min.bytes"));
    let consumer = config.client_properties(ClientKind::Consumer);
    assert_eq!(
        consumer.get("fetch.min.bytes").map(String::as_str),
        Some("10")
    );
    assert_eq!(consumer.get("linger.ms").map(String::as_str), Some("5"));
    let restore = config.client_properties(ClientKind::RestoreConsumer);
    assert_eq!(
        restore.get("fetch.min.bytes").map(String::as_str),
        Some("99")
    );
}

#[test]
fn the_rocksdb_block_cache_size_is_ours_not_a_client_property() {
    let mut config = StreamsConfig::new();
    assert_eq!(
        config.rocksdb_block_cache_bytes().expect("default"),
        50 * 1024 * 1024
    );
    config.set(ROCKSDB_BLOCK_CACHE_BYTES, "1048576");
    assert_eq!(config.rocksdb_block_cache_bytes().expect("set"), 1 << 20);
    assert!(
        !config
            .client_properties(ClientKind::Consumer)
            .contains_key(ROCKSDB_BLOCK_CACHE_BYTES)
    );
    config.set(ROCKSDB_BLOCK_CACHE_BYTES, "lots");
    assert!(config.rocksdb_block_cache_bytes().is_err());
}

#[test]
fn thread_replacement_backs_off_exponentially_up_to_a_cap() {
    let mut config = StreamsConfig::new();
    let p = config.replacement_policy().expect("defaults");
    assert_eq!(p.wait_before(0), Some(Duration::from_secs(1)));
    assert_eq!(p.wait_before(1), Some(Duration::from_secs(2)));
    assert_eq!(p.wait_before(4), Some(Duration::from_secs(16)));
    assert_eq!(
        p.wait_before(5),
        None,
        "five replacements per window by default"
    );
    config
        .set(REPLACE_THREAD_BACKOFF_MS, "10000")
        .set(REPLACE_THREAD_MAX_REPLACEMENTS, "100");
    let p = config.replacement_policy().expect("valid");
    assert_eq!(p.wait_before(3), Some(Duration::from_secs(60)), "capped");
    assert_eq!(
        p.wait_before(64),
        Some(Duration::from_secs(60)),
        "no overflow"
    );
    config.set(REPLACE_THREAD_BACKOFF_MAX_MS, "5");
    assert!(config.replacement_policy().is_err());
}

#[test]
fn validates_values() {
    let mut config = StreamsConfig::new();
    assert!(config.application_id().is_err());
    for bad in ["bad id", ".", "..", "a/b", "../x", ""] {
        config.set("application.id", bad);
        assert!(config.application_id().is_err(), "{bad:?} accepted");
    }
    config
        .set("application.id", "ok-id_1.2")
        .set("commit.interval.ms", "soon");
    assert!(config.application_id().is_ok());
    assert!(matches!(
        config.commit_interval(),
        Err(Error::Config { .. })
    ));
    config.set(
        "default.deserialization.exception.handler",
        "LogAndContinueExceptionHandler",
    );
    assert_eq!(
        config.deserialization_policy().unwrap(),
        DeserializationPolicy::LogAndContinue
    );
    config.set("num.stream.threads", "0");
    assert!(config.num_stream_threads().is_err());
}

#[test]
fn the_metrics_recording_level_is_kafkas_and_checked() {
    let mut config = StreamsConfig::new();
    assert_eq!(
        config.metrics_recording_level().ok(),
        Some(RecordingLevel::Info)
    );
    for (value, level) in [
        ("INFO", RecordingLevel::Info),
        ("debug", RecordingLevel::Debug),
        (" TRACE ", RecordingLevel::Trace),
    ] {
        config.set(METRICS_RECORDING_LEVEL, value);
        assert_eq!(
            config.metrics_recording_level().ok(),
            Some(level),
            "{value}"
        );
    }
    config.set(METRICS_RECORDING_LEVEL, "VERBOSE");
    assert!(matches!(
        config.metrics_recording_level(),
        Err(Error::Config { key, .. }) if key == METRICS_RECORDING_LEVEL
    ));
    assert!(RecordingLevel::Trace.records(RecordingLevel::Debug));
    assert!(!RecordingLevel::Info.records(RecordingLevel::Debug));
    assert!(
        !config
            .client_properties(ClientKind::Consumer)
            .contains_key(METRICS_RECORDING_LEVEL),
        "a Streams property, not passed to librdkafka"
    );
}

#[test]
fn the_group_instance_id_goes_to_the_main_consumer_only() {
    let mut config = StreamsConfig::new();
    config.set("group.instance.id", "worker-a");
    assert_eq!(
        config
            .client_properties(ClientKind::Consumer)
            .get("group.instance.id")
            .map(String::as_str),
        Some("worker-a")
    );
    for kind in [
        ClientKind::Producer,
        ClientKind::RestoreConsumer,
        ClientKind::Admin,
    ] {
        assert!(
            !config
                .client_properties(kind)
                .contains_key("group.instance.id"),
            "{kind:?}"
        );
    }
}

#[test]
fn a_group_instance_id_kafka_would_refuse_is_a_config_error() {
    let mut config = StreamsConfig::new();
    assert!(config.check_group_instance_id().is_ok(), "unset");
    config.set("group.instance.id", "worker-a.1_b");
    assert!(config.check_group_instance_id().is_ok());
    for bad in ["", " ", "worker a", "..", "w/1", &"w".repeat(248)] {
        config.set("group.instance.id", bad);
        assert!(
            matches!(
                config.check_group_instance_id(),
                Err(Error::Config { key, .. }) if key == "group.instance.id"
            ),
            "{bad:?} accepted"
        );
    }
    config.remove("group.instance.id");
    config.set("consumer.group.instance.id", "");
    assert!(
        config.check_group_instance_id().is_err(),
        "the prefixed form too"
    );
}
