//! Recordings a runtime's configuration asks for
//! ([`RuntimeConfig::record`]): planned at `register` (the schema found,
//! or a clear error), started on the parent's side when the manager
//! starts (never in a child process, which has no handle), finished at
//! shutdown after the runtimes stopped, so everything the handle received
//! is in the file.

use std::path::PathBuf;

use super::{MessageDescriptor, RuntimeConfig};
use crate::error::{Error, Result};

/// A recording to start: where, and the schema of what is recorded.
#[derive(Debug)]
pub(crate) struct Plan {
    #[cfg_attr(not(feature = "record"), allow(dead_code))]
    path: PathBuf,
    #[cfg(feature = "record")]
    schema: crate::record::Schema,
    #[cfg(feature = "record")]
    kind: crate::record::Kind,
}

/// The recording `config` asks for, if any.
///
/// # Errors
/// [`Error::Invalid`] when it asks for one that cannot be made: tsercom
/// built without its `record` feature, or a runtime whose message has no
/// known schema (`descriptor` is `None`).
pub(crate) fn plan(
    name: &str,
    config: &RuntimeConfig,
    descriptor: Option<MessageDescriptor>,
) -> Result<Option<Plan>> {
    let Some(path) = config.record.clone() else {
        return Ok(None);
    };
    let Some(descriptor) = descriptor else {
        return Err(Error::Invalid {
            what: "recording from the configuration",
            reason: format!(
                "runtime {name:?} does not know its message's schema (its initializer's \
                 inbound_descriptor() is None); record through the handle with a Schema instead"
            ),
        });
    };
    #[cfg(feature = "record")]
    {
        let schema = crate::record::Schema::new(descriptor.descriptor_set, &descriptor.full_name)?;
        let kind = match config.role {
            super::Role::Aggregator => crate::record::Kind::Data,
            super::Role::Producer => crate::record::Kind::Events,
        };
        Ok(Some(Plan { path, schema, kind }))
    }
    #[cfg(not(feature = "record"))]
    {
        Err(Error::Invalid {
            what: "recording from the configuration",
            reason: format!(
                "runtime {name:?} asks to record its {} messages to {} but tsercom was built \
                 without its `record` feature",
                descriptor.full_name,
                path.display()
            ),
        })
    }
}

#[cfg(feature = "record")]
pub(crate) use running::{Running, start};

#[cfg(feature = "record")]
mod running {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::Plan;
    use crate::data::RemoteDataAggregator;
    use crate::error::{Error, Result};
    use crate::record::{RecordConfig, RecordStats, Recorder, record_store};
    use crate::runtime::errors::ErrorSink;

    /// A recording started from a runtime's configuration.
    #[derive(Debug)]
    pub(crate) struct Running {
        pub(crate) runtime: String,
        pub(crate) recorder: Recorder,
        /// The writer's failure was reported as it happened.
        reported: Arc<AtomicBool>,
    }

    /// Starts `plan` on `store` (the handle's), reporting a writer that
    /// fails to `errors` under the runtime's name.
    pub(crate) fn start<D>(
        name: &str,
        plan: &Plan,
        store: &RemoteDataAggregator<D>,
        errors: &ErrorSink,
    ) -> Result<Running>
    where
        D: prost::Message + Clone + Send + Sync + 'static,
    {
        let reported = Arc::new(AtomicBool::new(false));
        let report = {
            let (errors, name, path) = (errors.clone(), name.to_owned(), plan.path.clone());
            let reported = Arc::clone(&reported);
            Box::new(move |e: Error| {
                reported.store(true, Ordering::Release);
                errors.report_error(
                    &name,
                    Error::Recording {
                        path: path.clone(),
                        reason: e.to_string(),
                    },
                );
            })
        };
        let config = RecordConfig::new(&plan.path, plan.schema.clone());
        let recorder = record_store(store, name, plan.kind, config, Some(report))?;
        tracing::info!(runtime = name, path = %plan.path.display(), "recording started");
        Ok(Running {
            runtime: name.to_owned(),
            recorder,
            reported,
        })
    }

    impl Running {
        /// The counters so far.
        pub(crate) fn stats(&self) -> RecordStats {
            self.recorder.stats()
        }

        /// Finishes the file (after the runtimes stopped: all they
        /// delivered is in it); a failure not yet reported goes to `errors`.
        pub(crate) fn finish(self, errors: &ErrorSink) {
            match self.recorder.stop() {
                Ok(stats) => tracing::info!(
                    runtime = self.runtime,
                    written = stats.written,
                    dropped = stats.dropped,
                    files = ?stats.files,
                    "recording finished"
                ),
                // Its writer's failure was reported when it happened; a
                // panicked writer thread was not.
                Err(e) if !self.reported.load(Ordering::Acquire) => {
                    errors.report_error(&self.runtime, e);
                }
                Err(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Role;

    fn descriptor() -> MessageDescriptor {
        use prost::Message as _;
        let set = prost_types::FileDescriptorSet {
            file: vec![prost_types::FileDescriptorProto {
                package: Some("p".into()),
                message_type: vec![prost_types::DescriptorProto {
                    name: Some("M".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec();
        MessageDescriptor {
            descriptor_set: Box::leak(set.into_boxed_slice()),
            full_name: "p.M".into(),
        }
    }

    #[test]
    fn no_recording_is_planned_unless_configured() {
        let config = RuntimeConfig::default();
        assert!(
            plan("r", &config, Some(descriptor()))
                .expect("ok")
                .is_none()
        );
        assert!(plan("r", &config, None).expect("ok").is_none());
    }

    #[test]
    fn a_runtime_without_a_schema_cannot_record_from_its_configuration() {
        let config = RuntimeConfig::default().with_record("x.mcap");
        let err = plan("Custom", &config, None).expect_err("no schema");
        assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
        assert!(err.to_string().contains("Custom"), "{err}");
    }

    #[test]
    fn a_configured_recording_is_planned_with_the_feature_and_refused_without() {
        let config = RuntimeConfig::new(Role::Producer).with_record("x.mcap");
        let planned = plan("r", &config, Some(descriptor()));
        #[cfg(feature = "record")]
        {
            let plan = planned.expect("planned").expect("a plan");
            assert_eq!(plan.schema.name(), "p.M");
            assert_eq!(plan.kind, crate::record::Kind::Events);
        }
        #[cfg(not(feature = "record"))]
        {
            let err = planned.expect_err("needs the feature");
            assert!(err.to_string().contains("`record` feature"), "{err}");
        }
    }
}
