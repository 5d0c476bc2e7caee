//! The TDS wire protocol (MS-TDS), server side.
