//! WebAssembly component plugins (`ugrn:plugin@0.1.0`), run by wasmtime in a sandbox.
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
    self as sdk, AttentionMaps, Evaluation, Evaluator, Features, FittedTranslator, LabeledFeatures, Matrix,
    ModelOracle, Params, PluginInfo, PluginKind, Probe, ProbeRequest, Progress, TokenId, Translator,
};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::PluginError;
use stderr::StderrTail;
use v0_1_0::{evaluator, probe, translator, wit, wit_oracle};

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

impl wit::Host for Session {}

impl wit_oracle::Host for Session {
    fn info(&mut self) -> wasmtime::Result<wit_oracle::ModelInfo> {
        Ok(v0_1_0::model_info(self.oracle()?.info()))
    }
    fn token_ids(&mut self, genes: Vec<String>) -> wasmtime::Result<Vec<Option<u32>>> {
        Ok(self.oracle()?.token_ids(&genes))
    }
    fn readout(&mut self, cells: wit_oracle::CellBatch) -> wasmtime::Result<Result<wit::Matrix, wit::Error>> {
        let oracle = self.oracle()?;
        Ok(to_guest(v0_1_0::cell_batch(cells).and_then(|c| oracle.readout(&c)).and_then(|m| v0_1_0::matrix(&m))))
    }
    fn readout_derivative(
        &mut self,
        cells: wit_oracle::CellBatch,
        sources: Vec<u32>,
    ) -> wasmtime::Result<Result<wit::Matrix, wit::Error>> {
        let oracle = self.oracle()?;
        let sources: Vec<usize> = sources.into_iter().map(|s| s as usize).collect();
        Ok(to_guest(
            v0_1_0::cell_batch(cells)
                .and_then(|c| oracle.readout_derivative(&c, &sources))
                .and_then(|m| v0_1_0::matrix(&m)),
        ))
    }
    fn gene_embeddings(&mut self, tokens: Vec<u32>) -> wasmtime::Result<Result<wit::Matrix, wit::Error>> {
        let oracle = self.oracle()?;
        Ok(to_guest(oracle.gene_embeddings(&tokens).and_then(|m: Matrix| v0_1_0::matrix(&m))))
    }
    fn attention_scores(
        &mut self,
        cells: wit_oracle::CellBatch,
        layer: u32,
    ) -> wasmtime::Result<Result<wit_oracle::AttentionMaps, wit::Error>> {
        let oracle = self.oracle()?;
        Ok(to_guest(
            v0_1_0::cell_batch(cells)
                .and_then(|c| oracle.attention_scores(&c, layer as usize))
                .and_then(|a: AttentionMaps| v0_1_0::attention_maps(a)),
        ))
    }
    fn prepare_expression(
        &mut self,
        context: Vec<u32>,
        expression: Vec<f32>,
    ) -> wasmtime::Result<Result<Vec<f32>, wit::Error>> {
        let oracle = self.oracle()?;
        Ok(to_guest(oracle.prepare_expression(&context as &[TokenId], &expression)))
    }
    fn bytes_per_cell(&mut self, genes: u32, pass: wit_oracle::Pass) -> wasmtime::Result<u64> {
        Ok(self.oracle()?.bytes_per_cell(genes as usize, v0_1_0::pass(pass)))
    }
}

impl probe::ugrn::plugin::progress::Host for Session {
    fn set_total(&mut self, total: u64) -> wasmtime::Result<()> {
        if let Some((_, p)) = self.lent {
            p.set_total(total);
        }
        Ok(())
    }
    fn advance(&mut self, done: u64) -> wasmtime::Result<()> {
        if let Some((_, p)) = self.lent {
            p.advance(done);
        }
        Ok(())
    }
    fn set_message(&mut self, message: String) -> wasmtime::Result<()> {
        if let Some((_, p)) = self.lent {
            p.set_message(&message);
        }
        Ok(())
    }
}

fn to_guest<T>(r: sdk::Result<T>) -> Result<T, wit::Error> {
    r.map_err(v0_1_0::wit_error)
}

/// A compiled component of one world, ready to be instantiated per call.
struct Prepared<P> {
    runtime: Arc<ComponentRuntime>,
    pre: P,
    info: PluginInfo,
}

impl<P> Prepared<P> {
    /// The error for a failed call: which limit was hit, or the trap and the guest's last stderr.
    fn failure(&self, store: &Store<Session>, e: wasmtime::Error) -> sdk::Error {
        failure(&self.info.name, self.runtime.limits, store, e)
    }

    fn broken(&self, message: String) -> sdk::Error {
        sdk::Error::Trap { plugin: self.info.name.clone(), message }
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
    kind: PluginKind,
    call: impl FnOnce(&mut Store<Session>) -> wasmtime::Result<wit::PluginInfo>,
) -> Result<PluginInfo, PluginError> {
    let mut store = runtime.store();
    match call(&mut store) {
        Ok(info) => Ok(v0_1_0::plugin_info(info, kind)),
        Err(e) => {
            Err(PluginError::Create { file: file.into(), reason: failure(file, runtime.limits, &store, e).to_string() })
        }
    }
}

pub struct ComponentProbe(Prepared<probe::ProbePre<Session>>);
pub struct ComponentTranslator(Prepared<translator::TranslatorPre<Session>>);
pub struct ComponentEvaluator(Prepared<evaluator::EvaluatorPre<Session>>);

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
pub fn open(runtime: &Arc<ComponentRuntime>, path: &Path) -> Result<ComponentObject, PluginError> {
    let file = path.display().to_string();
    let load = |reason: String| PluginError::Load { file: file.clone(), reason };
    let component = Component::from_file(&runtime.engine, path).map_err(|e| load(format!("{e:#}")))?;
    let kind = world_of(&runtime.engine, &component).ok_or_else(|| {
        load("exports none of the worlds of ugrn:plugin@0.1.0 (probe: `features`, translator: `fit`, evaluator: `evaluate`)".into())
    })?;
    let mut linker: Linker<Session> = Linker::new(&runtime.engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| load(format!("{e:#}")))?;
    let mismatch = |e: wasmtime::Error| load(format!("does not match world `{kind}` of ugrn:plugin@0.1.0: {e:#}"));
    match kind {
        PluginKind::Probe => {
            probe::Probe::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).map_err(|e| load(format!("{e:#}")))?;
            let pre = probe::ProbePre::new(linker.instantiate_pre(&component).map_err(mismatch)?).map_err(mismatch)?;
            let info = describe(runtime, &file, kind, |store| pre.instantiate(&mut *store)?.call_describe(store))?;
            Ok(ComponentObject::Probe(ComponentProbe(Prepared { runtime: runtime.clone(), pre, info })))
        }
        PluginKind::Translator => {
            let pre = translator::TranslatorPre::new(linker.instantiate_pre(&component).map_err(mismatch)?)
                .map_err(mismatch)?;
            let info = describe(runtime, &file, kind, |store| pre.instantiate(&mut *store)?.call_describe(store))?;
            Ok(ComponentObject::Translator(ComponentTranslator(Prepared { runtime: runtime.clone(), pre, info })))
        }
        _ => {
            let pre = evaluator::EvaluatorPre::new(linker.instantiate_pre(&component).map_err(mismatch)?)
                .map_err(mismatch)?;
            let info = describe(runtime, &file, kind, |store| pre.instantiate(&mut *store)?.call_describe(store))?;
            Ok(ComponentObject::Evaluator(ComponentEvaluator(Prepared { runtime: runtime.clone(), pre, info })))
        }
    }
}

impl Probe for ComponentProbe {
    fn describe(&self) -> PluginInfo {
        self.0.info.clone()
    }

    fn needs_expression(&self, params: &Params) -> bool {
        let p = &self.0;
        // On failure, assume the expression is read: it then enters the feature-cache key and is
        // sent along, so a wrong guess costs a cache miss, never stale features.
        let Ok(params) = v0_1_0::params(params) else { return true };
        let mut store = p.runtime.store();
        match p.pre.instantiate(&mut store).and_then(|i| i.call_needs_expression(&mut store, &params)) {
            Ok(needs) => needs,
            Err(e) => {
                tracing::warn!("{}", p.failure(&store, e));
                true
            }
        }
    }

    fn features(
        &self,
        request: &ProbeRequest<'_>,
        oracle: &dyn ModelOracle,
        progress: &dyn Progress,
    ) -> sdk::Result<Features> {
        let p = &self.0;
        // The host hands the expression matrix only to probes that read it (`Runner::features`).
        let wit_request = v0_1_0::probe_request(request)?;
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
        let result = p.pre.instantiate(&mut store).and_then(|i| i.call_features(&mut store, &wit_request));
        let features = match result {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => return Err(v0_1_0::error(e)),
            Err(e) => return Err(p.failure(&store, e)),
        };
        let features =
            v0_1_0::sdk_features(features).map_err(|e| p.broken(format!("returned malformed features: {e}")))?;
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
        let (params, train, validation) =
            (v0_1_0::params(params)?, v0_1_0::labeled_features(train)?, v0_1_0::labeled_features(validation)?);
        let mut store = p.runtime.store();
        match p.pre.instantiate(&mut store).and_then(|i| i.call_fit(&mut store, &params, &train, &validation)) {
            Ok(Ok(f)) => Ok(FittedTranslator { state: f.state, log: f.log }),
            Ok(Err(e)) => Err(v0_1_0::error(e)),
            Err(e) => Err(p.failure(&store, e)),
        }
    }

    fn predict(&self, params: &Params, state: &[u8], features: &Features) -> sdk::Result<Vec<f32>> {
        let p = &self.0;
        let (params, wit_features) = (v0_1_0::params(params)?, v0_1_0::features(features)?);
        let mut store = p.runtime.store();
        let logits =
            match p.pre.instantiate(&mut store).and_then(|i| i.call_predict(&mut store, &params, state, &wit_features))
            {
                Ok(Ok(l)) => l,
                Ok(Err(e)) => return Err(v0_1_0::error(e)),
                Err(e) => return Err(p.failure(&store, e)),
            };
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
        let params = v0_1_0::params(params)?;
        let mut store = p.runtime.store();
        match p.pre.instantiate(&mut store).and_then(|i| i.call_evaluate(&mut store, &params, scores, labels)) {
            Ok(Ok(e)) => Ok(v0_1_0::evaluation(e)),
            Ok(Err(e)) => Err(v0_1_0::error(e)),
            Err(e) => Err(p.failure(&store, e)),
        }
    }
}
