//! WebAssembly component plugins, run by wasmtime in a sandbox.
//!
//! This runtime speaks SDK types only. A component is linked against one WIT version, and each
//! world (probe, translator, evaluator) is an enum over the versions this host has a binding
//! module for (`v0_1_0`: `ugrn:plugin@0.1.0`, in `sdk/wit/0.1.0/`); an arm calls its version's
//! module, which holds that version's bindings, its side of the host imports and every
//! conversion between its types and the SDK's.
//!
//! Every call gets a fresh instance in its own store: no state survives between calls, CPU is
//! bounded by fuel (guest instructions only; the oracle's compute in the host is not counted),
//! linear memory is capped (all of a component's memories together), and WASI offers no files,
//! network, environment or arguments. Wall-clock time is not bounded: WASI's clocks are linked,
//! so a guest could block in a timer without spending fuel. The guest's stderr is captured so
//! that a panic message reaches the error. A trap of any kind (panic, out of fuel, over the
//! memory cap) or output of the wrong shape becomes [`ugrn_sdk::Error::Trap`] naming the plugin
//! and what happened.
mod stderr;
mod v0_1_0;

use std::path::Path;
use std::sync::Arc;

use ugrn_sdk::{
    self as sdk, Evaluation, Evaluator, Features, FittedTranslator, LabeledFeatures, ModelOracle, Params, PluginInfo,
    PluginKind, Probe, ProbeRequest, Progress, Translator,
};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::PluginError;
use stderr::StderrTail;

/// What one call into a component may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComponentLimits {
    /// Fuel per call: about one unit per WebAssembly instruction the guest executes.
    pub fuel: u64,
    /// Cap on the guest's linear memory per call, all its memories together.
    pub memory_bytes: u64,
}

impl Default for ComponentLimits {
    /// 10¹⁰ instructions (seconds of guest compute; probes leave the heavy work to the oracle)
    /// and 1 GiB.
    fn default() -> Self {
        ComponentLimits { fuel: 10_000_000_000, memory_bytes: 1 << 30 }
    }
}

/// Bytes of guest stderr kept for error messages (the last ones: a panic message comes last).
const STDERR_TAIL: usize = 16 * 1024;
/// Function-table entries a call may hold: far beyond any plugin's indirect-call targets, and a
/// bound on host memory the cap on linear memory does not cover.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;
/// Core instances, memories and tables per component: a compiled Rust component has a handful
/// of each; wasmtime's default (10,000) would let the memory cap apply many times over.
const MAX_INSTANCES: usize = 32;
const MAX_MEMORIES: usize = 8;
const MAX_TABLES: usize = 32;

/// The engine every component of a registry is compiled for, and the limits of each call.
pub(super) struct ComponentRuntime {
    engine: Engine,
    limits: ComponentLimits,
}

impl ComponentRuntime {
    pub(super) fn new(limits: ComponentLimits) -> wasmtime::Result<Arc<Self>> {
        let mut config = Config::new();
        config.wasm_component_model(true).consume_fuel(true);
        Ok(Arc::new(ComponentRuntime { engine: Engine::new(&config)?, limits }))
    }

    /// A fresh store for one call: sandboxed WASI with captured stderr, the memory cap, full fuel.
    fn store(&self) -> Store<Session> {
        let stderr = StderrTail::new(STDERR_TAIL);
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        let limit = usize::try_from(self.limits.memory_bytes).unwrap_or(usize::MAX);
        let memory = MemoryCap { limit, total: 0, exceeded: None };
        let session = Session { wasi, table: ResourceTable::new(), memory, stderr, lent: None };
        let mut store = Store::new(&self.engine, session);
        store.limiter(|s| &mut s.memory);
        store.set_fuel(self.limits.fuel).expect("fuel is enabled on the engine");
        store
    }
}

/// Caps the linear memory of all the component's memories together (creation counts as growth
/// from zero) and remembers a refused request, so the trap can be named.
struct MemoryCap {
    limit: usize,
    total: usize,
    exceeded: Option<usize>,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.total - current + desired;
        if total > self.limit {
            self.exceeded = Some(total);
            return Err(wasmtime::Error::msg(format!(
                "memory growth to {total} bytes refused (cap {} bytes)",
                self.limit
            )));
        }
        self.total = total;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }
    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

/// The store data of one call: WASI, the memory cap, and the oracle and progress bar the call
/// lends to the guest.
struct Session {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    stderr: StderrTail,
    /// Set for the duration of one `features` call only (see the SAFETY note there).
    lent: Option<(&'static dyn ModelOracle, &'static dyn Progress)>,
}

impl WasiView for Session {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl Session {
    fn oracle(&self) -> wasmtime::Result<&dyn ModelOracle> {
        self.lent.map(|(o, _)| o).ok_or_else(|| wasmtime::Error::msg("the oracle was called outside `features`"))
    }
}

/// Why a call into a component gave no answer, before the runtime names the plugin.
enum CallError {
    /// An SDK error as it stands: input this version cannot carry, or the component's own error.
    Sdk(sdk::Error),
    /// The instance trapped or hit a limit (the store says which).
    Trap(wasmtime::Error),
    /// The component answered with output that makes no SDK value.
    Malformed(String),
}

impl From<sdk::Error> for CallError {
    fn from(e: sdk::Error) -> Self {
        CallError::Sdk(e)
    }
}

impl From<wasmtime::Error> for CallError {
    fn from(e: wasmtime::Error) -> Self {
        CallError::Trap(e)
    }
}

/// A compiled component of one world, ready to be instantiated per call.
struct Prepared<W> {
    runtime: Arc<ComponentRuntime>,
    world: W,
    info: PluginInfo,
}

impl<W> Prepared<W> {
    /// The error for a failed call: which limit was hit, or the trap and the guest's last stderr.
    fn failure(&self, store: &Store<Session>, e: wasmtime::Error) -> sdk::Error {
        failure(&self.info.name, self.runtime.limits, store, e)
    }

    fn broken(&self, message: String) -> sdk::Error {
        sdk::Error::Trap { plugin: self.info.name.clone(), message }
    }

    /// The SDK error for a call in `store` that failed with `e`.
    fn error(&self, store: &Store<Session>, e: CallError) -> sdk::Error {
        match e {
            CallError::Sdk(e) => e,
            CallError::Trap(e) => self.failure(store, e),
            CallError::Malformed(message) => self.broken(message),
        }
    }
}

fn failure(plugin: &str, limits: ComponentLimits, store: &Store<Session>, e: wasmtime::Error) -> sdk::Error {
    let session = store.data();
    let message = if let Some(requested) = session.memory.exceeded {
        format!(
            "over its memory cap of {} MiB (asked for {} MiB)",
            limits.memory_bytes >> 20,
            requested.div_ceil(1 << 20)
        )
    } else if matches!(e.downcast_ref::<Trap>(), Some(Trap::OutOfFuel)) {
        format!("ran out of fuel ({} units per call)", limits.fuel)
    } else {
        let stderr = session.stderr.text();
        if stderr.is_empty() { format!("trapped: {e:#}") } else { format!("trapped: {e:#}; its stderr: {stderr}") }
    };
    sdk::Error::Trap { plugin: plugin.to_string(), message }
}

/// The component's description, read once at load time.
fn describe(
    runtime: &ComponentRuntime,
    file: &str,
    call: impl FnOnce(&mut Store<Session>) -> wasmtime::Result<PluginInfo>,
) -> Result<PluginInfo, PluginError> {
    let mut store = runtime.store();
    call(&mut store).map_err(|e| PluginError::Create {
        file: file.into(),
        reason: failure(file, runtime.limits, &store, e).to_string(),
    })
}

/// A compiled probe, by the WIT version it implements.
enum ProbeWorld {
    V0_1_0(v0_1_0::probe::ProbePre<Session>),
}

impl ProbeWorld {
    fn describe(&self, store: &mut Store<Session>) -> wasmtime::Result<PluginInfo> {
        match self {
            ProbeWorld::V0_1_0(pre) => v0_1_0::probe_describe(pre, store),
        }
    }

    fn needs_expression(&self, store: &mut Store<Session>, params: &Params) -> Result<bool, CallError> {
        match self {
            ProbeWorld::V0_1_0(pre) => v0_1_0::probe_needs_expression(pre, store, params),
        }
    }

    fn features(&self, store: &mut Store<Session>, request: &ProbeRequest<'_>) -> Result<Features, CallError> {
        match self {
            ProbeWorld::V0_1_0(pre) => v0_1_0::probe_features(pre, store, request),
        }
    }
}

/// A compiled translator, by the WIT version it implements.
enum TranslatorWorld {
    V0_1_0(v0_1_0::translator::TranslatorPre<Session>),
}

impl TranslatorWorld {
    fn describe(&self, store: &mut Store<Session>) -> wasmtime::Result<PluginInfo> {
        match self {
            TranslatorWorld::V0_1_0(pre) => v0_1_0::translator_describe(pre, store),
        }
    }

    fn fit(
        &self,
        store: &mut Store<Session>,
        params: &Params,
        train: &LabeledFeatures,
        validation: &LabeledFeatures,
    ) -> Result<FittedTranslator, CallError> {
        match self {
            TranslatorWorld::V0_1_0(pre) => v0_1_0::translator_fit(pre, store, params, train, validation),
        }
    }

    fn predict(
        &self,
        store: &mut Store<Session>,
        params: &Params,
        state: &[u8],
        features: &Features,
    ) -> Result<Vec<f32>, CallError> {
        match self {
            TranslatorWorld::V0_1_0(pre) => v0_1_0::translator_predict(pre, store, params, state, features),
        }
    }
}

/// A compiled evaluator, by the WIT version it implements.
enum EvaluatorWorld {
    V0_1_0(v0_1_0::evaluator::EvaluatorPre<Session>),
}

impl EvaluatorWorld {
    fn describe(&self, store: &mut Store<Session>) -> wasmtime::Result<PluginInfo> {
        match self {
            EvaluatorWorld::V0_1_0(pre) => v0_1_0::evaluator_describe(pre, store),
        }
    }

    fn evaluate(
        &self,
        store: &mut Store<Session>,
        params: &Params,
        scores: &[f32],
        labels: &[bool],
    ) -> Result<Evaluation, CallError> {
        match self {
            EvaluatorWorld::V0_1_0(pre) => v0_1_0::evaluator_evaluate(pre, store, params, scores, labels),
        }
    }
}

pub struct ComponentProbe(Prepared<ProbeWorld>);
pub struct ComponentTranslator(Prepared<TranslatorWorld>);
pub struct ComponentEvaluator(Prepared<EvaluatorWorld>);

/// A component plugin of one of the three kinds components may implement.
pub enum ComponentObject {
    Probe(ComponentProbe),
    Translator(ComponentTranslator),
    Evaluator(ComponentEvaluator),
}

/// The world a component implements, from its exports.
fn world_of(engine: &Engine, component: &Component) -> Option<PluginKind> {
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    if exports.contains(&"features") {
        Some(PluginKind::Probe)
    } else if exports.contains(&"fit") {
        Some(PluginKind::Translator)
    } else if exports.contains(&"evaluate") {
        Some(PluginKind::Evaluator)
    } else {
        None
    }
}

/// Compiles `path` (binary or WAT text), checks it against its world and reads its description.
/// 0.1.0 is the only WIT version so far, so every component is linked against it.
pub fn open(runtime: &Arc<ComponentRuntime>, path: &Path) -> Result<ComponentObject, PluginError> {
    let file = path.display().to_string();
    let load = |reason: String| PluginError::Load { file: file.clone(), reason };
    let component = Component::from_file(&runtime.engine, path).map_err(|e| load(format!("{e:#}")))?;
    let kind = world_of(&runtime.engine, &component).ok_or_else(|| {
        load(format!(
            "exports none of the worlds of {} (probe: `features`, translator: `fit`, evaluator: `evaluate`)",
            v0_1_0::PACKAGE
        ))
    })?;
    let mut linker: Linker<Session> = Linker::new(&runtime.engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| load(format!("{e:#}")))?;
    let mismatch = |e: wasmtime::Error| load(format!("does not match world `{kind}` of {}: {e:#}", v0_1_0::PACKAGE));
    match kind {
        PluginKind::Probe => {
            v0_1_0::add_probe_imports(&mut linker).map_err(|e| load(format!("{e:#}")))?;
            let pre = linker.instantiate_pre(&component).map_err(mismatch)?;
            let world = ProbeWorld::V0_1_0(v0_1_0::probe::ProbePre::new(pre).map_err(mismatch)?);
            let info = describe(runtime, &file, |store| world.describe(store))?;
            Ok(ComponentObject::Probe(ComponentProbe(Prepared { runtime: runtime.clone(), world, info })))
        }
        PluginKind::Translator => {
            let pre = linker.instantiate_pre(&component).map_err(mismatch)?;
            let world = TranslatorWorld::V0_1_0(v0_1_0::translator::TranslatorPre::new(pre).map_err(mismatch)?);
            let info = describe(runtime, &file, |store| world.describe(store))?;
            Ok(ComponentObject::Translator(ComponentTranslator(Prepared { runtime: runtime.clone(), world, info })))
        }
        _ => {
            let pre = linker.instantiate_pre(&component).map_err(mismatch)?;
            let world = EvaluatorWorld::V0_1_0(v0_1_0::evaluator::EvaluatorPre::new(pre).map_err(mismatch)?);
            let info = describe(runtime, &file, |store| world.describe(store))?;
            Ok(ComponentObject::Evaluator(ComponentEvaluator(Prepared { runtime: runtime.clone(), world, info })))
        }
    }
}

impl Probe for ComponentProbe {
    fn describe(&self) -> PluginInfo {
        self.0.info.clone()
    }

    fn needs_expression(&self, params: &Params) -> bool {
        let p = &self.0;
        let mut store = p.runtime.store();
        // On failure, assume the expression is read: it then enters the feature-cache key and is
        // sent along, so a wrong guess costs a cache miss, never stale features.
        match p.world.needs_expression(&mut store, params) {
            Ok(needs) => needs,
            Err(CallError::Trap(e)) => {
                tracing::warn!("{}", p.failure(&store, e));
                true
            }
            Err(CallError::Sdk(_) | CallError::Malformed(_)) => true,
        }
    }

    fn features(
        &self,
        request: &ProbeRequest<'_>,
        oracle: &dyn ModelOracle,
        progress: &dyn Progress,
    ) -> sdk::Result<Features> {
        let p = &self.0;
        let mut store = p.runtime.store();
        // SAFETY: the references are only reachable through `store` (`Session::oracle` hands out
        // borrows of the store, never the 'static references), which is created above and dropped
        // at the end of this call, before the borrows of `oracle` and `progress` end. A store must
        // therefore never be reused or pooled across calls.
        let lent = unsafe {
            (
                std::mem::transmute::<&dyn ModelOracle, &'static dyn ModelOracle>(oracle),
                std::mem::transmute::<&dyn Progress, &'static dyn Progress>(progress),
            )
        };
        store.data_mut().lent = Some(lent);
        // The host hands the expression matrix only to probes that read it (`Runner::features`).
        let features = p.world.features(&mut store, request).map_err(|e| p.error(&store, e))?;
        if features.values.rows != request.pairs.len() {
            return Err(p.broken(format!(
                "returned {} feature rows for {} pairs",
                features.values.rows,
                request.pairs.len()
            )));
        }
        Ok(features)
    }
}

impl Translator for ComponentTranslator {
    fn describe(&self) -> PluginInfo {
        self.0.info.clone()
    }

    fn fit(
        &self,
        params: &Params,
        train: &LabeledFeatures,
        validation: &LabeledFeatures,
    ) -> sdk::Result<FittedTranslator> {
        let p = &self.0;
        let mut store = p.runtime.store();
        p.world.fit(&mut store, params, train, validation).map_err(|e| p.error(&store, e))
    }

    fn predict(&self, params: &Params, state: &[u8], features: &Features) -> sdk::Result<Vec<f32>> {
        let p = &self.0;
        let mut store = p.runtime.store();
        let logits = p.world.predict(&mut store, params, state, features).map_err(|e| p.error(&store, e))?;
        if logits.len() != features.values.rows {
            return Err(p.broken(format!("returned {} logits for {} rows", logits.len(), features.values.rows)));
        }
        Ok(logits)
    }
}

impl Evaluator for ComponentEvaluator {
    fn describe(&self) -> PluginInfo {
        self.0.info.clone()
    }

    fn evaluate(&self, params: &Params, scores: &[f32], labels: &[bool]) -> sdk::Result<Evaluation> {
        let p = &self.0;
        let mut store = p.runtime.store();
        p.world.evaluate(&mut store, params, scores, labels).map_err(|e| p.error(&store, e))
    }
}
