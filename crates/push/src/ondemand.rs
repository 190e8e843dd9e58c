//! Provision on demand: converge one user on one target now and say what happened at each step
//! (like Entra's provision-on-demand).

use std::collections::HashSet;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::desired::{self, Desired, Step};
use crate::error::{Error, Result};
use crate::run::{self, blocking, Ctx};
use crate::target::Target;

/// One HTTP call as reported.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallReport {
    /// Method.
    pub method: String,
    /// Path below the target's base URL.
    pub path: String,
    /// Status.
    pub status: Option<u16>,
    /// Latency.
    pub latency_ms: i64,
    /// Error detail.
    pub error: Option<String>,
    /// The remote's answer.
    pub response: Option<Value>,
}

/// What provisioning one user did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionReport {
    /// The Roster user.
    pub user_id: String,
    /// The target.
    pub target_id: String,
    /// `present`, `disabled` or `absent`: what the user should be on the target.
    pub desired_state: &'static str,
    /// The document the target should hold.
    pub desired: Option<Value>,
    /// `create`, `update`, `disable`, `delete` or `none`.
    pub action: &'static str,
    /// `synced`, `disabled`, `deleted`, `retrying`, `failed` or `unchanged`.
    pub result: String,
    /// The remote id afterwards.
    pub remote_id: Option<String>,
    /// The error, if it failed.
    pub error: Option<String>,
    /// Every call made, in order, with the remote's answers.
    pub steps: Vec<CallReport>,
}

/// Provisions `user_id` now (forced: sent even if nothing changed).
pub async fn provision(
    ctx: &Ctx,
    target: &Arc<Target>,
    token: &str,
    user_id: &str,
) -> Result<ProvisionReport> {
    let uid = user_id.to_string();
    let exists = {
        let uid = uid.clone();
        blocking(&ctx.store, move |s| {
            s.read(|c| match store::users::get(c, &uid) {
                Ok(_) => Ok(true),
                Err(store::Error::NotFound) => Ok(false),
                Err(e) => Err(e),
            })
        })
        .await?
    };
    if !exists {
        return Err(Error::NotFound(format!("user {user_id} not found")));
    }
    let items = {
        let t = target.clone();
        let ids = vec![uid.clone()];
        let force: HashSet<String> = ids.iter().cloned().collect();
        blocking(&ctx.store, move |s| {
            s.read(|c| desired::plan_users(c, &t, &ids, &force, s.clock().now()))
        })
        .await?
    };
    let Some(item) = items.into_iter().next() else {
        return Err(Error::NotFound(format!("user {user_id} not found")));
    };
    let (desired_state, desired_doc) = match &item.desired {
        Desired::Present { doc, .. } => ("present", Some(doc.clone())),
        Desired::Disabled => ("disabled", None),
        Desired::Absent => ("absent", None),
    };
    let action = match item.step {
        Step::Noop => "none",
        Step::Create => "create",
        Step::Update => "update",
        Step::Disable => "disable",
        Step::Delete => "delete",
    };
    run::record_intents(ctx, target, token, std::slice::from_ref(&item)).await?;
    let outcomes = run::execute(target, vec![item]).await;
    run::commit(ctx, target, token, &outcomes, None, None).await?;
    let o = outcomes.into_iter().next();
    let (result, remote_id, error, steps) = match o {
        None => ("unchanged".to_string(), None, None, Vec::new()),
        Some(o) => {
            let st = o.state.clone();
            (
                st.as_ref().map_or("unchanged".into(), |s| s.status.clone()),
                st.as_ref().and_then(|s| s.remote_id.clone()),
                st.as_ref().and_then(|s| s.last_error.clone()),
                o.calls
                    .into_iter()
                    .map(|c| CallReport {
                        method: c.method.to_string(),
                        path: c.path,
                        status: c.status,
                        latency_ms: c.latency_ms,
                        error: c.error,
                        response: c.body,
                    })
                    .collect(),
            )
        }
    };
    Ok(ProvisionReport {
        user_id: uid,
        target_id: target.row.id.clone(),
        desired_state,
        desired: desired_doc,
        action,
        result,
        remote_id,
        error,
        steps,
    })
}
