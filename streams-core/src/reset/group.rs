//! The members of a consumer group, through librdkafka's `DescribeConsumerGroups`.
//!
//! rust-rdkafka wraps only the classic `DescribeGroups` call (`fetch_group_list`), to which a
//! broker answers "dead, no members" for a group of the KIP-848 protocol
//! (`group.protocol=consumer`): a reset would then run under live instances. librdkafka's
//! admin call asks `ConsumerGroupDescribe` first and falls back to the classic call, so it
//! sees the members of both kinds of group.

use std::ffi::{CStr, CString, c_char};
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka_sys as sys;

use crate::{Error, Result};

/// A member of a group, as the broker describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    /// The member's `client.id`.
    pub(crate) client_id: String,
    /// The host it connected from.
    pub(crate) host: String,
}

/// What the broker says of a group: its state and members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupDescription {
    /// The group's state (`Stable`, `Empty`, `Dead`, …).
    pub(crate) state: String,
    /// Its members.
    pub(crate) members: Vec<Member>,
}

/// Frees what it holds when dropped, whichever way the call returns.
struct Owned {
    queue: *mut sys::rd_kafka_queue_t,
    options: *mut sys::rd_kafka_AdminOptions_t,
    event: *mut sys::rd_kafka_event_t,
}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: each pointer is null or was returned by its librdkafka constructor and not
        // freed elsewhere; the event is destroyed before the queue it came from.
        unsafe {
            if !self.event.is_null() {
                sys::rd_kafka_event_destroy(self.event);
            }
            if !self.options.is_null() {
                sys::rd_kafka_AdminOptions_destroy(self.options);
            }
            if !self.queue.is_null() {
                sys::rd_kafka_queue_destroy(self.queue);
            }
        }
    }
}

/// A C string of librdkafka's, copied; empty for null.
///
/// # Safety
/// `ptr` is null or points to a NUL-terminated string alive for the call.
unsafe fn text(ptr: *const c_char) -> String {
    if ptr.is_null() {
        String::new()
    } else {
        // SAFETY: non-null and NUL-terminated, per the function's contract.
        unsafe { CStr::from_ptr(ptr) }
            .to_string_lossy()
            .into_owned()
    }
}

fn failed(group: &str, code: RDKafkaErrorCode, detail: &str) -> Error {
    let context = if detail.is_empty() {
        format!("describing consumer group `{group}`")
    } else {
        format!("describing consumer group `{group}` ({detail})")
    };
    Error::kafka(context, KafkaError::AdminOp(code))
}

/// Describes `group` through `admin`'s client, retrying for up to `timeout` while its
/// coordinator is moving or loading (a fresh cluster has none until `__consumer_offsets`
/// exists). A group that does not exist is described as `Dead` with no members, as the
/// broker answers.
pub(crate) fn describe_group(
    admin: &AdminClient<DefaultClientContext>,
    group: &str,
    timeout: Duration,
) -> Result<GroupDescription> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match describe_once(admin, group, timeout) {
            Err(Error::Kafka {
                source: KafkaError::AdminOp(code),
                ..
            }) if std::time::Instant::now() < deadline
                && matches!(
                    code,
                    RDKafkaErrorCode::NotCoordinator
                        | RDKafkaErrorCode::CoordinatorNotAvailable
                        | RDKafkaErrorCode::CoordinatorLoadInProgress
                ) =>
            {
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

fn describe_once(
    admin: &AdminClient<DefaultClientContext>,
    group: &str,
    timeout: Duration,
) -> Result<GroupDescription> {
    let name = CString::new(group).map_err(|_| Error::Config {
        key: crate::config::APPLICATION_ID.into(),
        reason: format!("`{group}` contains a NUL byte"),
    })?;
    let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let rk = admin.inner().native_ptr();
    // SAFETY: `rk` is the admin client's live handle, borrowed for this call; every object
    // created here is owned by `owned` and freed when it drops; the group name outlives the
    // call that copies it; result pointers are read only while the event that owns them is
    // alive (it is destroyed last but for the queue and options).
    unsafe {
        let mut owned = Owned {
            queue: sys::rd_kafka_queue_new(rk),
            options: sys::rd_kafka_AdminOptions_new(
                rk,
                sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
            ),
            event: std::ptr::null_mut(),
        };
        if owned.queue.is_null() || owned.options.is_null() {
            return Err(failed(
                group,
                RDKafkaErrorCode::Fail,
                "librdkafka could not allocate the request",
            ));
        }
        let mut errstr = [0 as c_char; 256];
        let err = sys::rd_kafka_AdminOptions_set_request_timeout(
            owned.options,
            millis,
            errstr.as_mut_ptr(),
            errstr.len(),
        );
        if err != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(failed(group, err.into(), &text(errstr.as_ptr())));
        }
        let mut groups = [name.as_ptr()];
        sys::rd_kafka_DescribeConsumerGroups(
            rk,
            groups.as_mut_ptr(),
            groups.len(),
            owned.options,
            owned.queue,
        );
        // The request times out by itself after `timeout`; wait a little longer for its event.
        owned.event = sys::rd_kafka_queue_poll(owned.queue, millis.saturating_add(5_000));
        if owned.event.is_null() {
            return Err(failed(group, RDKafkaErrorCode::RequestTimedOut, ""));
        }
        let err = sys::rd_kafka_event_error(owned.event);
        if err != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(failed(
                group,
                err.into(),
                &text(sys::rd_kafka_event_error_string(owned.event)),
            ));
        }
        let result = sys::rd_kafka_event_DescribeConsumerGroups_result(owned.event);
        if result.is_null() {
            return Err(failed(group, RDKafkaErrorCode::Fail, "no result"));
        }
        let mut count = 0usize;
        let descriptions = sys::rd_kafka_DescribeConsumerGroups_result_groups(result, &mut count);
        if descriptions.is_null() || count == 0 {
            return Err(failed(
                group,
                RDKafkaErrorCode::Fail,
                "no group in the result",
            ));
        }
        let description = *descriptions;
        let error = sys::rd_kafka_ConsumerGroupDescription_error(description);
        if !error.is_null() {
            let code: RDKafkaErrorCode = sys::rd_kafka_error_code(error).into();
            if code == RDKafkaErrorCode::GroupIdNotFound {
                return Ok(GroupDescription {
                    state: "Dead".into(),
                    members: Vec::new(),
                });
            }
            return Err(failed(
                group,
                code,
                &text(sys::rd_kafka_error_string(error)),
            ));
        }
        let state = text(sys::rd_kafka_consumer_group_state_name(
            sys::rd_kafka_ConsumerGroupDescription_state(description),
        ));
        let members = (0..sys::rd_kafka_ConsumerGroupDescription_member_count(description))
            .map(|i| sys::rd_kafka_ConsumerGroupDescription_member(description, i))
            .filter(|member| !member.is_null())
            .map(|member| Member {
                client_id: text(sys::rd_kafka_MemberDescription_client_id(member)),
                host: text(sys::rd_kafka_MemberDescription_host(member)),
            })
            .collect();
        Ok(GroupDescription { state, members })
    }
}
