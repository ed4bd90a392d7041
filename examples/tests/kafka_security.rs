//! Secured clusters, on Apache Kafka: the word count (the `word_count` example's topology)
//! runs end to end, the security settings given once to `StreamsConfig` (which passes them to
//! all the app's librdkafka clients: topic creation, consumers, producers) and to the test's
//! own producer and reader, every client bootstrapped only from
//!
//! - a TLS listener (`security.protocol=ssl`): the broker's certificate is for `127.0.0.1`
//!   (an IP SAN) and `localhost`, signed by a CA made by this test (`rcgen`), which the clients
//!   trust through `ssl.ca.location`; certificate and hostname verification are librdkafka's
//!   defaults, left on;
//! - a `SASL_SSL` listener with SCRAM-SHA-512, the user created through the broker's
//!   PLAINTEXT listener with Kafka's own `ConfigCommand`.
//!
//! The broker advertises each listener's own address on it, so clients never leave it; a
//! client that ignored the security settings could not talk to these ports at all.
//!
//! And the checks can fail: a client that trusts another CA fails the TLS handshake; a
//! listener whose certificate (signed by the trusted CA) names another host is refused, while
//! the same connection without hostname verification succeeds (so the refusal is the hostname
//! check, on by default); a wrong SCRAM password is refused with an authentication error.
//!
//! The expected counts are computed here from the text, independently of the framework.

mod support;
#[path = "../word_count/topology.rs"]
mod word_count;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use streams_core::{KafkaStreams, StreamsConfig};
use support::{KafkaCluster, one_at_a_time, unique};
use word_count::{STORE, topology, words};

/// Generous: a starved broker (a 2-core machine under load) has been seen to stall for a minute.
const TIMEOUT: Duration = Duration::from_secs(180);
const TEXT: &str = include_str!("../word_count/tale_of_two_cities.txt");
const USER: &str = "alice";
const PASSWORD: &str = "alice-secret";

/// The certificates, as PEM files the broker and the clients read.
struct Pki {
    _dir: tempfile::TempDir,
    /// The CA that signed the broker's certificates.
    ca: PathBuf,
    /// A CA that signed nothing the broker has.
    other_ca: PathBuf,
    /// The broker's key, then its certificate for `127.0.0.1` and `localhost`, then the CA's.
    keystore: PathBuf,
    /// The same for a certificate, signed by the same CA, that names only `kafka.invalid`.
    misnamed_keystore: PathBuf,
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}

/// A broker key and certificate for `names` signed by `ca`, with the CA's certificate: the
/// contents of a PEM keystore file (`ssl.keystore.type=PEM`).
fn server_keystore(ca: &CertifiedIssuer<'static, KeyPair>, names: &[&str]) -> String {
    let sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(sans).expect("server params");
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().expect("server key");
    let cert = params.signed_by(&key, ca).expect("server certificate");
    format!("{}{}{}", key.serialize_pem(), cert.pem(), ca.pem())
}

impl Pki {
    fn generate() -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("kafka-pki-")
            .tempdir()
            .expect("pki dir");
        let write = |name: &str, pem: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).expect("write PEM");
            path
        };
        let ca = new_ca("streams test CA");
        let other = new_ca("streams test CA nobody uses");
        Pki {
            ca: write("ca.pem", ca.pem()),
            other_ca: write("other-ca.pem", other.pem()),
            keystore: write(
                "broker.pem",
                server_keystore(&ca, &["127.0.0.1", "localhost"]),
            ),
            misnamed_keystore: write(
                "misnamed-broker.pem",
                server_keystore(&ca, &["kafka.invalid"]),
            ),
            _dir: dir,
        }
    }
}

/// The broker of this binary: one node with PLAINTEXT (inter-broker, and the test's setup),
/// TLS, SASL_SSL and a misnamed TLS listener.
struct SecureKafka {
    cluster: KafkaCluster,
    pki: Pki,
    /// `bootstrap.servers` of the TLS listener.
    ssl: String,
    /// `bootstrap.servers` of the SASL_SSL (SCRAM-SHA-512) listener.
    sasl_ssl: String,
    /// `bootstrap.servers` of a TLS listener whose certificate names another host.
    misnamed: String,
}

fn broker() -> &'static SecureKafka {
    static BROKER: OnceLock<SecureKafka> = OnceLock::new();
    BROKER.get_or_init(|| {
        let pki = Pki::generate();
        let extra = free_ports(3);
        let (ssl, sasl_ssl, misnamed) = (extra[0], extra[1], extra[2]);
        let cluster = KafkaCluster::start_with(1, |ports| {
            let (plain, controller) = (ports[0], ports[0] + 1);
            let listeners = format!(
                "PLAINTEXT://127.0.0.1:{plain},CONTROLLER://127.0.0.1:{controller},\
                 SSL://127.0.0.1:{ssl},SASL_SSL://127.0.0.1:{sasl_ssl},\
                 MISNAMED://127.0.0.1:{misnamed}"
            );
            format!(
                "listeners={listeners}\n\
                 advertised.listeners={listeners}\n\
                 listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,\
                 SSL:SSL,SASL_SSL:SASL_SSL,MISNAMED:SSL\n\
                 ssl.keystore.type=PEM\n\
                 ssl.keystore.location={keystore}\n\
                 listener.name.misnamed.ssl.keystore.type=PEM\n\
                 listener.name.misnamed.ssl.keystore.location={misnamed_keystore}\n\
                 listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512\n\
                 listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=\
                 org.apache.kafka.common.security.scram.ScramLoginModule required;\n",
                keystore = pki.keystore.display(),
                misnamed_keystore = pki.misnamed_keystore.display(),
            )
        });
        let broker = SecureKafka {
            cluster,
            pki,
            ssl: format!("127.0.0.1:{ssl}"),
            sasl_ssl: format!("127.0.0.1:{sasl_ssl}"),
            misnamed: format!("127.0.0.1:{misnamed}"),
        };
        broker.add_scram_user();
        broker
    })
}

impl SecureKafka {
    /// Creates the SCRAM-SHA-512 credentials of `USER` (`kafka-configs --alter --add-config`,
    /// through the PLAINTEXT listener), then waits until the SASL_SSL listener accepts them.
    fn add_scram_user(&self) {
        let started = Instant::now();
        let output = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../java/kafka-broker/kafka.sh"))
            .args([
                "tool",
                "org.apache.kafka.tools.ConfigCommand",
                "--bootstrap-server",
                &self.cluster.bootstrap,
                "--alter",
                "--add-config",
                &format!("SCRAM-SHA-512=[password={PASSWORD}]"),
                "--entity-type",
                "users",
                "--entity-name",
                USER,
            ])
            .output()
            .expect("run ConfigCommand");
        assert!(
            output.status.success(),
            "ConfigCommand failed: {}\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // The credentials reach the broker through the metadata log: retry with fresh clients
        // (one that failed backs off before reconnecting).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let admin: BaseProducer = client(&self.sasl_ssl_client(PASSWORD))
                .create()
                .expect("client");
            match admin.client().fetch_metadata(None, Duration::from_secs(3)) {
                Ok(_) => break,
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "SCRAM user {USER} never accepted: {e}\n{}",
                    self.cluster.log(1)
                ),
            }
        }
        eprintln!(
            "SCRAM-SHA-512 user {USER} created and accepted in {} ms",
            started.elapsed().as_millis()
        );
    }

    /// Client settings for the TLS listener, trusting `ca`.
    fn tls_client(&self, bootstrap: &str, ca: &Path) -> Settings {
        vec![
            ("bootstrap.servers", bootstrap.to_string()),
            ("security.protocol", "ssl".to_string()),
            ("ssl.ca.location", ca.display().to_string()),
        ]
    }

    /// Client settings for the SASL_SSL listener as `USER` with `password`.
    fn sasl_ssl_client(&self, password: &str) -> Settings {
        vec![
            ("bootstrap.servers", self.sasl_ssl.clone()),
            ("security.protocol", "sasl_ssl".to_string()),
            ("ssl.ca.location", self.pki.ca.display().to_string()),
            ("sasl.mechanisms", "SCRAM-SHA-512".to_string()),
            ("sasl.username", USER.to_string()),
            ("sasl.password", password.to_string()),
        ]
    }
}

/// librdkafka properties of the clients of one listener.
type Settings = Vec<(&'static str, String)>;

fn client(settings: &Settings) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (key, value) in settings {
        config.set(*key, value);
    }
    config
}

/// `n` distinct loopback ports free now, from below the range `support::kafka` picks the
/// broker's own ports from (20000-32000) and below the kernel's ephemeral ports.
fn free_ports(n: usize) -> Vec<u16> {
    let mut seed = u64::from(std::process::id()) * 7_919
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos()));
    let mut ports = Vec::new();
    for _ in 0..1_000 {
        let port = 12_000 + (seed % 8_000) as u16;
        seed += 613;
        if !ports.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports.push(port);
            if ports.len() == n {
                return ports;
            }
        }
    }
    panic!("no {n} free loopback ports found");
}

/// Runs the word count with `settings` for every client and checks the counts it writes, and
/// those in its store, against counts made here.
fn word_count_over(settings: &Settings) {
    let started = Instant::now();
    let expected: BTreeMap<String, u64> =
        TEXT.lines()
            .flat_map(words)
            .fold(BTreeMap::new(), |mut counts, word| {
                *counts.entry(word).or_insert(0) += 1;
                counts
            });
    let app = unique("secure-word-count");
    let (input, output) = (format!("{app}-lines"), format!("{app}-counts"));
    let state = tempfile::tempdir().expect("state dir");
    let mut config = StreamsConfig::new();
    config
        .set("application.id", &app)
        .set("state.dir", state.path().to_string_lossy().to_string())
        .set("commit.interval.ms", "200");
    for (key, value) in settings {
        config.set(*key, value);
    }
    let admin: AdminClient<DefaultClientContext> = client(settings).create().expect("admin");
    let topics = [&input, &output].map(|t| NewTopic::new(t, 2, TopicReplication::Fixed(-1)));
    let created = futures::executor::block_on(admin.create_topics(&topics, &AdminOptions::new()))
        .expect("topics created over the secured listener");
    for result in created {
        result.expect("topic created over the secured listener");
    }
    let mut phases = vec![("topics created", started.elapsed())];

    let mut streams =
        KafkaStreams::new(topology(&input, &output).expect("topology"), &config).expect("app");
    streams.start().expect("start");
    streams.wait_until_running(TIMEOUT).expect("running");
    phases.push(("running", started.elapsed()));

    let producer: BaseProducer = client(settings).create().expect("producer");
    for line in TEXT.lines().filter(|l| !l.trim().is_empty()) {
        producer
            .send(BaseRecord::<(), str>::to(&input).payload(line))
            .map_err(|(e, _)| e)
            .expect("send");
    }
    producer.flush(TIMEOUT).expect("lines produced");
    phases.push(("lines produced", started.elapsed()));

    let reader: BaseConsumer = client(settings)
        .set("group.id", unique("secure-reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader");
    reader.subscribe(&[&output]).expect("subscribe");
    let deadline = Instant::now() + TIMEOUT;
    let mut latest: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_error = None;
    while latest != expected {
        assert!(
            Instant::now() < deadline,
            "counts never complete: {} of {} words counted, last error {last_error:?}; \
             {phases:?}",
            latest.values().sum::<u64>(),
            expected.values().sum::<u64>()
        );
        match reader.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let word = String::from_utf8_lossy(m.key().unwrap_or_default()).to_string();
                let count = u64::from_be_bytes(
                    m.payload()
                        .unwrap_or_default()
                        .try_into()
                        .expect("an 8-byte count"),
                );
                if latest.is_empty() {
                    phases.push(("first count read", started.elapsed()));
                }
                latest.insert(word, count);
            }
            Some(Err(e)) => last_error = Some(e),
            None => {}
        }
    }

    let store = streams
        .key_value_store::<String, u64>(STORE)
        .expect("the counts store");
    let in_store: BTreeMap<String, u64> = loop {
        let all: BTreeMap<_, _> = store.all().expect("store contents").into_iter().collect();
        if all == expected || Instant::now() > deadline {
            break all;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(in_store, expected, "the store's counts");
    phases.push(("all counted", started.elapsed()));
    streams.close().expect("close");
    phases.push(("closed", started.elapsed()));
    let phases: Vec<String> = phases
        .iter()
        .map(|(phase, at)| format!("{phase} {} ms", at.as_millis()))
        .collect();
    eprintln!(
        "{} words, {} distinct: {}",
        expected.values().sum::<u64>(),
        expected.len(),
        phases.join(", ")
    );
}

/// Records the errors librdkafka reports to the application.
#[derive(Default)]
struct Errors(Mutex<Vec<(Option<RDKafkaErrorCode>, String)>>);

impl ClientContext for Errors {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((error.rdkafka_error_code(), reason.to_string()));
    }
}

impl ProducerContext for Errors {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

/// Connects a client with `settings` that must be refused; returns the distinct errors it
/// reported once one says why (not only "all brokers down"), retrying for at most 30 s.
fn refusal(settings: &Settings) -> Vec<(Option<RDKafkaErrorCode>, String)> {
    let producer: BaseProducer<Errors> = client(settings)
        .create_with_context(Errors::default())
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metadata = producer
            .client()
            .fetch_metadata(None, Duration::from_millis(500));
        assert!(metadata.is_err(), "the broker answered {settings:?}");
        producer.poll(Duration::from_millis(100));
        let mut errors = producer
            .context()
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        errors.dedup();
        let why = errors
            .iter()
            .any(|(code, _)| *code != Some(RDKafkaErrorCode::AllBrokersDown));
        if why {
            return errors;
        }
        assert!(
            Instant::now() < deadline,
            "no reason reported for {settings:?}: {errors:?}"
        );
    }
}

fn assert_refused(
    errors: &[(Option<RDKafkaErrorCode>, String)],
    code: RDKafkaErrorCode,
    reason: &str,
) {
    let found = errors
        .iter()
        .find(|(c, r)| *c == Some(code) && r.contains(reason));
    match found {
        Some((_, refused)) => eprintln!("refused as expected: {refused}"),
        None => panic!("expected {code:?} with `{reason}`, got {errors:?}"),
    }
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn word_count_runs_end_to_end_over_tls() {
    let _serial = one_at_a_time();
    let broker = broker();
    word_count_over(&broker.tls_client(&broker.ssl, &broker.pki.ca));
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn word_count_runs_end_to_end_over_sasl_ssl_with_scram_sha_512() {
    let _serial = one_at_a_time();
    let broker = broker();
    word_count_over(&broker.sasl_ssl_client(PASSWORD));
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn tls_refuses_an_unknown_ca_and_a_certificate_for_another_host() {
    let _serial = one_at_a_time();
    let broker = broker();

    let errors = refusal(&broker.tls_client(&broker.ssl, &broker.pki.other_ca));
    assert_refused(&errors, RDKafkaErrorCode::SSL, "certificate verify failed");

    // Signed by the trusted CA, but for another host: refused by the hostname check alone,
    // which is on by default.
    let errors = refusal(&broker.tls_client(&broker.misnamed, &broker.pki.ca));
    assert_refused(&errors, RDKafkaErrorCode::SSL, "certificate verify failed");
    let mut unchecked = broker.tls_client(&broker.misnamed, &broker.pki.ca);
    unchecked.push(("ssl.endpoint.identification.algorithm", "none".to_string()));
    let consumer: BaseConsumer = client(&unchecked).create().expect("client");
    consumer
        .fetch_metadata(None, Duration::from_secs(30))
        .expect("without hostname verification the misnamed listener answers");
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn sasl_ssl_refuses_a_wrong_password() {
    let _serial = one_at_a_time();
    let broker = broker();
    let errors = refusal(&broker.sasl_ssl_client("not-the-password"));
    assert_refused(
        &errors,
        RDKafkaErrorCode::Authentication,
        "Authentication failed",
    );
}
