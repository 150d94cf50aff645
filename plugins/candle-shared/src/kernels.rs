//! f32 CPU kernels for the softmax of attention and its tangent, which candle computes in several
//! passes over heads × tokens² values per cell and, for `exp`, one scalar libm call per value.
//! Here each row is one pass in cache, `exp` is vectorised, rows run in parallel: at 1,200 tokens
//! the softmax was half of a forward pass.
//!
//! `exp` is Cephes' single-precision one (Cody–Waite reduction, degree-5 minimax polynomial),
//! within 2 ulp of the true value from −87.3 to 88 (softmax takes x ≤ 0) (the tests measure it); softmax
//! itself is exact up to that rounding. The rows are summed in 16 interleaved partial sums, so the
//! rounding differs from a sequential sum by a few ulp.
use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `exp(x)` for x below this is under f32's smallest normal number: 0.
const EXP_UNDERFLOW: f32 = -87.336_54;
/// Above this 2ⁿ would overflow the exponent; softmax only takes x ≤ 0.
const EXP_OVERFLOW: f32 = 88.0;
const LANES: usize = 16;

/// Cephes' `expf`: x = n ln 2 + r with |r| ≤ ln 2 / 2, exp(r) ≈ 1 + r + r² P(r), times 2ⁿ.
/// Written without branches or calls so that the loops calling it vectorise.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 · 2²³ rounds to an integer, which then sits in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let clamped = x.clamp(EXP_UNDERFLOW, EXP_OVERFLOW);
    let shifted = clamped * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let two_n = f32::from_bits(((shifted.to_bits() as i32 - ROUND.to_bits() as i32 + 127) << 23) as u32);
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = (1.0 + r + r * r * p) * two_n;
    if x < EXP_UNDERFLOW { 0.0 } else { e }
}

#[inline(always)]
fn softmax_row_generic(row: &mut [f32]) {
    let mut max = [f32::NEG_INFINITY; LANES];
    let split = row.len() - row.len() % LANES;
    for c in row[..split].chunks_exact(LANES) {
        for i in 0..LANES {
            max[i] = max[i].max(c[i]);
        }
    }
    let max = row[split..].iter().fold(max.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)), |a, &b| a.max(b));
    let mut sum = [0f32; LANES];
    for c in row[..split].chunks_exact_mut(LANES) {
        for i in 0..LANES {
            c[i] = exp(c[i] - max);
            sum[i] += c[i];
        }
    }
    let mut total: f32 = sum.iter().sum();
    for x in &mut row[split..] {
        *x = exp(*x - max);
        total += *x;
    }
    let inv = 1.0 / total;
    for x in row.iter_mut() {
        *x *= inv;
    }
}

/// ṗ = p ⊙ (ṡ − Σ p ⊙ ṡ) for one row, written over ṡ.
#[inline(always)]
fn softmax_tangent_row_generic(p: &[f32], t: &mut [f32]) {
    let mut dot = [0f32; LANES];
    let split = p.len() - p.len() % LANES;
    for (a, b) in p[..split].chunks_exact(LANES).zip(t[..split].chunks_exact(LANES)) {
        for i in 0..LANES {
            dot[i] += a[i] * b[i];
        }
    }
    let dot = dot.iter().sum::<f32>() + p[split..].iter().zip(&t[split..]).map(|(a, b)| a * b).sum::<f32>();
    for (b, a) in t.iter_mut().zip(p) {
        *b = a * (*b - dot);
    }
}

/// The row kernels compiled for AVX-512 and AVX2 as well, picked by what the CPU has.
#[cfg(target_arch = "x86_64")]
mod x86 {
    #[target_feature(enable = "avx512f")]
    pub(super) fn softmax_row_avx512(row: &mut [f32]) {
        super::softmax_row_generic(row)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn softmax_row_avx2(row: &mut [f32]) {
        super::softmax_row_generic(row)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) fn softmax_tangent_row_avx512(p: &[f32], t: &mut [f32]) {
        super::softmax_tangent_row_generic(p, t)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn softmax_tangent_row_avx2(p: &[f32], t: &mut [f32]) {
        super::softmax_tangent_row_generic(p, t)
    }
}

/// Softmax of `row`, in place.
fn softmax_row(row: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { x86::softmax_row_avx512(row) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { x86::softmax_row_avx2(row) };
        }
    }
    softmax_row_generic(row)
}

/// The softmax tangent of one row, written over the scores' tangent `t`.
fn softmax_tangent_row(p: &[f32], t: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { x86::softmax_tangent_row_avx512(p, t) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { x86::softmax_tangent_row_avx2(p, t) };
        }
    }
    softmax_tangent_row_generic(p, t)
}

/// Rows per parallel task: about one task per candle thread, and never less than 16 KiB of
/// work, where dispatch would cost more than it saves.
fn rows_per_task(rows: usize, row_len: usize) -> usize {
    let threads = candle_core::utils::get_num_threads().max(1);
    rows.div_ceil(threads).max((4096 / row_len.max(1)).max(1))
}

fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout, what: &str) -> Result<&'a [f32]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg(format!("the {what} kernel needs a contiguous tensor")))?;
    Ok(&storage.as_slice::<f32>()?[start..end])
}

struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "ugrn-softmax-last-dim"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let mut out = contiguous_f32(storage, layout, "softmax")?.to_vec();
        let n = layout.dims().last().copied().unwrap_or(1).max(1);
        let task = rows_per_task(out.len() / n, n) * n;
        out.par_chunks_mut(task).for_each(|rows| rows.chunks_exact_mut(n).for_each(softmax_row));
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

struct SoftmaxTangent;

impl CustomOp2 for SoftmaxTangent {
    fn name(&self) -> &'static str {
        "ugrn-softmax-tangent"
    }

    fn cpu_fwd(&self, p: &CpuStorage, lp: &Layout, t: &CpuStorage, lt: &Layout) -> Result<(CpuStorage, Shape)> {
        let p = contiguous_f32(p, lp, "softmax tangent")?;
        let mut out = contiguous_f32(t, lt, "softmax tangent")?.to_vec();
        let n = lp.dims().last().copied().unwrap_or(1).max(1);
        let task = rows_per_task(p.len() / n, n) * n;
        out.par_chunks_mut(task).zip(p.par_chunks(task)).for_each(|(t, p)| {
            for (t, p) in t.chunks_exact_mut(n).zip(p.chunks_exact(n)) {
                softmax_tangent_row(p, t);
            }
        });
        Ok((CpuStorage::F32(out), lp.shape().clone()))
    }
}

/// How many (cell, head) tasks of [`attention`] run at once, each holding its tokens² maps.
pub fn attention_tasks_in_flight() -> usize {
    rayon::current_num_threads()
}

/// Whether the kernels here take `x`: an f32 tensor on the CPU.
pub fn applies(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32
}

/// Softmax over the last dimension of an f32 CPU tensor; carries no autograd graph.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1_no_bwd(&Softmax)
}

/// The tangent of softmax, p ⊙ (ṡ − Σ p ⊙ ṡ) over the last dimension, for f32 CPU tensors `p`
/// (the softmax) and `t` (the scores' tangent) of one shape.
pub fn softmax_tangent(p: &Tensor, t: &Tensor) -> Result<Tensor> {
    if p.dims() != t.dims() {
        candle_core::bail!("softmax {:?} and tangent {:?} differ in shape", p.dims(), t.dims());
    }
    p.contiguous()?.apply_op2_no_bwd(&t.contiguous()?, &SoftmaxTangent)
}

/// A pointer the parallel tasks of [`attention`] write through, each to its own block.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: tasks write disjoint blocks (their own cell's rows, their own head's columns), and the
// owner reads only after every task has ended.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

/// An f32 CPU tensor's contiguous values (the guard keeps them borrowed).
fn cpu_values(t: &Tensor) -> Result<(candle_core::StorageRef<'_>, usize)> {
    let (storage, layout) = t.storage_and_layout();
    let start = match layout.contiguous_offsets() {
        Some((start, _)) => start,
        None => candle_core::bail!("the attention kernel needs contiguous tensors"),
    };
    Ok((storage, start))
}

fn cpu_slice<'a>(storage: &'a candle_core::StorageRef<'_>, start: usize, len: usize) -> Result<&'a [f32]> {
    match &**storage {
        candle_core::Storage::Cpu(cpu) => Ok(&cpu.as_slice::<f32>()?[start..start + len]),
        _ => candle_core::bail!("the attention kernel runs on the CPU only"),
    }
}

/// `dst (m × n, row stride dst_rs) = [dst +] scale · lhs (m × k) · rhs (k × n)`, strides in
/// elements, on the calling thread.
///
/// SAFETY: every pointer addresses a matrix of the given shape and strides; `dst` is written
/// by nobody else meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn product(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    (lhs, lhs_rs, lhs_cs): (*const f32, usize, usize),
    (rhs, rhs_rs, rhs_cs): (*const f32, usize, usize),
    scale: f32,
) {
    // SAFETY: the caller's.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            lhs,
            lhs_cs as isize,
            lhs_rs as isize,
            rhs,
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Multi-head scaled dot-product attention, and its tangent, on f32 CPU tensors, one (cell,
/// head) per parallel task: the tokens × tokens maps exist for one head per thread at a time,
/// never for every head of every cell, and q, k, v are read in place from the stacked projection.
///
/// - `qkv`: `(cells, tokens, 3 · d)`, q, k and v side by side, head h at columns h · d/heads.
/// - `qkv_t`: its tangent, if any.
/// - `key_mask`: `(cells, tokens)`, added to every query's scores (0, or −∞ at padding).
///
/// Returns the heads' outputs merged, `(cells, tokens, d)`, and the tangent of that: with
/// s = q kᵀ/√(d/heads) + mask, p = softmax(s), o = p v; ṡ = (q̇ kᵀ + q k̇ᵀ)/√(d/heads),
/// ṗ = p ⊙ (ṡ − Σ p ⊙ ṡ), ȯ = ṗ v + p v̇.
pub fn attention(
    qkv: &Tensor,
    qkv_t: Option<&Tensor>,
    heads: usize,
    key_mask: Option<&Tensor>,
) -> Result<(Tensor, Option<Tensor>)> {
    let (cells, tokens, width) = qkv.dims3()?;
    if width % 3 != 0 || (width / 3) % heads != 0 {
        candle_core::bail!("q, k and v of {width} columns do not split into {heads} heads");
    }
    if qkv_t.is_some_and(|t| t.dims() != qkv.dims()) {
        candle_core::bail!("the tangent of q, k and v differs from them in shape");
    }
    let (d, hd) = (width / 3, width / 3 / heads);
    if cells * tokens == 0 {
        let empty = Tensor::zeros((cells, tokens, d), DType::F32, &candle_core::Device::Cpu)?;
        return Ok((empty.clone(), qkv_t.map(|_| empty)));
    }
    let scale = 1.0 / (hd as f32).sqrt();
    let mask: Option<Vec<f32>> = key_mask.map(|m| m.flatten_all()?.to_vec1::<f32>()).transpose()?;
    if mask.as_ref().is_some_and(|m| m.len() != cells * tokens) {
        candle_core::bail!("the key mask does not have one value per token");
    }
    let qkv = qkv.contiguous()?;
    let qkv_t = qkv_t.map(Tensor::contiguous).transpose()?;
    let (storage, start) = cpu_values(&qkv)?;
    let all = cpu_slice(&storage, start, cells * tokens * width)?;
    let tangent_storage = qkv_t.as_ref().map(cpu_values).transpose()?;
    let all_t = tangent_storage.as_ref().map(|(s, start)| cpu_slice(s, *start, cells * tokens * width)).transpose()?;

    let len = cells * tokens * d;
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let mut out_t: Option<Vec<f32>> = all_t.map(|_| Vec::with_capacity(len));
    let out_ptr = Shared(out.as_mut_ptr());
    let out_t_ptr = out_t.as_mut().map(|o| Shared(o.as_mut_ptr()));
    (0..cells * heads).into_par_iter().for_each(|task| {
        let (c, h) = (task / heads, task % heads);
        let at = |m: &[f32], block: usize| m[c * tokens * width + block * d + h * hd..].as_ptr();
        let (q, k, v) = (at(all, 0), at(all, 1), at(all, 2));
        let (qkv_rs, out_rs) = (width, d);
        let o = |p: Shared| p.0.wrapping_add(c * tokens * d + h * hd);
        let mut p: Vec<f32> = Vec::with_capacity(tokens * tokens);
        // SAFETY (every product below): q, k, v and their tangents are tokens × hd blocks of
        // `all`/`all_t` with row stride `width`; kᵀ is k read with its strides swapped; the
        // score buffers hold tokens × tokens values; this task's output block is tokens × hd at
        // row stride d, which no other task writes.
        unsafe {
            product((tokens, tokens, hd), p.as_mut_ptr(), tokens, false, (q, qkv_rs, 1), (k, 1, qkv_rs), scale);
            p.set_len(tokens * tokens);
        }
        for row in p.chunks_exact_mut(tokens) {
            if let Some(mask) = &mask {
                row.iter_mut().zip(&mask[c * tokens..(c + 1) * tokens]).for_each(|(s, m)| *s += m);
            }
            softmax_row(row);
        }
        unsafe {
            product((tokens, hd, tokens), o(out_ptr), out_rs, false, (p.as_ptr(), tokens, 1), (v, qkv_rs, 1), 1.0)
        };
        if let (Some(all_t), Some(out_t)) = (all_t, out_t_ptr) {
            let (qt, kt, vt) = (at(all_t, 0), at(all_t, 1), at(all_t, 2));
            let mut pt: Vec<f32> = Vec::with_capacity(tokens * tokens);
            unsafe {
                product((tokens, tokens, hd), pt.as_mut_ptr(), tokens, false, (qt, qkv_rs, 1), (k, 1, qkv_rs), scale);
                pt.set_len(tokens * tokens);
                product((tokens, tokens, hd), pt.as_mut_ptr(), tokens, true, (q, qkv_rs, 1), (kt, 1, qkv_rs), scale);
            }
            for (p, t) in p.chunks_exact(tokens).zip(pt.chunks_exact_mut(tokens)) {
                softmax_tangent_row(p, t);
            }
            unsafe {
                product((tokens, hd, tokens), o(out_t), out_rs, false, (pt.as_ptr(), tokens, 1), (v, qkv_rs, 1), 1.0);
                product((tokens, hd, tokens), o(out_t), out_rs, true, (p.as_ptr(), tokens, 1), (vt, qkv_rs, 1), 1.0);
            }
        }
    });
    // SAFETY: the tasks together wrote every (cell, token, column) of both outputs.
    unsafe {
        out.set_len(len);
        if let Some(o) = out_t.as_mut() {
            o.set_len(len);
        }
    }
    let device = candle_core::Device::Cpu;
    let out = Tensor::from_vec(out, (cells, tokens, d), &device)?;
    let out_t = out_t.map(|o| Tensor::from_vec(o, (cells, tokens, d), &device)).transpose()?;
    Ok((out, out_t))
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_within_two_ulp_of_f64_over_the_softmax_range() {
        let mut worst = 0;
        // Every 97th f32 from −87.3 to 88, covering every exponent and reduction interval.
        let (negative, positive) = ((-0.0f32).to_bits()..(-87.3f32).to_bits(), 0..88.0f32.to_bits());
        for bits in negative.step_by(97).chain(positive.step_by(97)) {
            let x = f32::from_bits(bits);
            let exact = (x as f64).exp() as f32;
            worst = worst.max(ulps(exp(x), exact));
        }
        assert!(worst <= 2, "{worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
    }

    fn reference_softmax(row: &[f32]) -> Vec<f64> {
        let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let e: Vec<f64> = row.iter().map(|&v| (v as f64 - max).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }

    #[test]
    fn softmax_and_tangent_match_f64_on_rows_of_every_length_mod_16() {
        for n in [1usize, 3, 15, 16, 17, 40, 513] {
            let rows = 5;
            let data: Vec<f32> = (0..rows * n).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 37.0).collect();
            let dir: Vec<f32> = (0..rows * n).map(|i| ((i * 104_729 % 997) as f32 - 498.0) / 100.0).collect();
            let x = Tensor::from_slice(&data, (rows, n), &Device::Cpu).unwrap();
            let t = Tensor::from_slice(&dir, (rows, n), &Device::Cpu).unwrap();
            let p = softmax_last_dim(&x).unwrap();
            let pt = softmax_tangent(&p, &t).unwrap();
            let (p, pt): (Vec<f32>, Vec<f32>) =
                (p.flatten_all().unwrap().to_vec1().unwrap(), pt.flatten_all().unwrap().to_vec1().unwrap());
            for r in 0..rows {
                let row = &data[r * n..(r + 1) * n];
                let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let expected = reference_softmax(row);
                let row_dir = &dir[r * n..(r + 1) * n];
                let mean: f64 = expected.iter().zip(row_dir).map(|(p, &d)| p * d as f64).sum();
                for j in 0..n {
                    let (e, got) = (expected[j], p[r * n + j] as f64);
                    // A few ulp, plus the rounding of x − max in f32, which exp turns into a
                    // relative error of |x − max| · 2⁻²⁴.
                    let tol = e * (4e-7 + (row[j] - max).abs() as f64 * 6e-8);
                    assert!((got - e).abs() <= tol, "n {n} row {r} entry {j}: {got} vs {e}");
                    let et = expected[j] * (row_dir[j] as f64 - mean);
                    let gt = pt[r * n + j] as f64;
                    assert!(
                        (gt - et).abs() <= 1e-5 * (e * 5.0 + et.abs()),
                        "tangent n {n} row {r} entry {j}: {gt} vs {et}"
                    );
                }
            }
        }
    }

    /// Attention composed from candle's ops in f64, heads split as scGPT's model splits them.
    fn reference_attention(qkv: &Tensor, qkv_t: &Tensor, heads: usize, mask: &Tensor) -> (Tensor, Tensor) {
        use crate::dual::{self, Dual};
        let (b, l, w) = qkv.dims3().unwrap();
        let (d, hd) = (w / 3, w / 3 / heads);
        let x = Dual::new(qkv.to_dtype(DType::F64).unwrap(), Some(qkv_t.to_dtype(DType::F64).unwrap()));
        let head = |i: usize| {
            x.map(|t| t.narrow(2, i * d, d)?.reshape((b, l, heads, hd))?.transpose(1, 2)?.contiguous()).unwrap()
        };
        let (q, k, v) = (head(0), head(1), head(2));
        let scale = 1.0 / (hd as f64).sqrt();
        let kt = |t: &Tensor| t.t().unwrap();
        let s = ((q.x.matmul(&kt(&k.x)).unwrap() * scale).unwrap())
            .broadcast_add(&mask.to_dtype(DType::F64).unwrap().reshape((b, 1, 1, l)).unwrap())
            .unwrap();
        let st = ((q.t.as_ref().unwrap().matmul(&kt(&k.x)).unwrap() + q.x.matmul(&kt(k.t.as_ref().unwrap())).unwrap())
            .unwrap()
            * scale)
            .unwrap();
        let p = dual::softmax_last_dim(&Dual::new(s, Some(st))).unwrap();
        let o = p.x.matmul(&v.x).unwrap();
        let ot = (p.t.unwrap().matmul(&v.x).unwrap() + p.x.matmul(v.t.as_ref().unwrap()).unwrap()).unwrap();
        let merge = |t: Tensor| t.transpose(1, 2).unwrap().reshape((b, l, d)).unwrap();
        (merge(o), merge(ot))
    }

    #[test]
    fn attention_and_tangent_match_composed_f64_with_a_padding_mask() {
        let (b, l, heads, hd) = (2, 37, 4, 8);
        let w = 3 * heads * hd;
        let spread = |seed: usize| -> Tensor {
            let data: Vec<f32> = (0..b * l * w).map(|i| (((i * 7919 + seed) % 1009) as f32 - 504.0) / 250.0).collect();
            Tensor::from_vec(data, (b, l, w), &Device::Cpu).unwrap()
        };
        let (qkv, qkv_t) = (spread(0), spread(17));
        // Cell 1 pads its last 5 tokens.
        let mut mask = vec![0f32; b * l];
        mask[2 * l - 5..].iter_mut().for_each(|m| *m = f32::NEG_INFINITY);
        let mask = Tensor::from_vec(mask, (b, l), &Device::Cpu).unwrap();
        let (o, ot) = attention(&qkv, Some(&qkv_t), heads, Some(&mask)).unwrap();
        let (eo, eot) = reference_attention(&qkv, &qkv_t, heads, &mask);
        let flat = |t: &Tensor| t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        for (got, expected, what) in [(flat(&o), flat(&eo), "output"), (flat(&ot.unwrap()), flat(&eot), "tangent")] {
            let scale = expected.iter().fold(0f64, |m, v| m.max(v.abs()));
            let worst = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(worst <= 2e-6 * scale, "{what}: largest difference {worst} against values up to {scale}");
        }
        // Without a tangent the output is the same, and no tangent comes back.
        let (alone, none) = attention(&qkv, None, heads, Some(&mask)).unwrap();
        assert!(none.is_none());
        assert_eq!(flat(&alone), flat(&o));
    }

    #[test]
    fn attention_over_no_tokens_is_empty() {
        let qkv = Tensor::zeros((2, 0, 24), DType::F32, &Device::Cpu).unwrap();
        let (o, ot) = attention(&qkv, Some(&qkv), 4, None).unwrap();
        assert_eq!((o.dims(), ot.unwrap().dims()), (&[2, 0, 8][..], &[2, 0, 8][..]));
    }

    #[test]
    fn attention_refuses_columns_that_do_not_split_into_heads() {
        let qkv = Tensor::zeros((1, 4, 30), DType::F32, &Device::Cpu).unwrap();
        let err = attention(&qkv, None, 4, None).unwrap_err().to_string();
        assert!(err.contains("30 columns do not split into 4 heads"), "{err}");
    }

    #[test]
    fn masked_keys_get_exactly_zero() {
        let x = Tensor::new(&[[0.5f32, f32::NEG_INFINITY, 2.0, f32::NEG_INFINITY]], &Device::Cpu).unwrap();
        let p: Vec<f32> = softmax_last_dim(&x).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!((p[1], p[3]), (0.0, 0.0));
        assert!((p[0] + p[2] - 1.0).abs() < 1e-7 && p[2] > p[0]);
    }

    #[test]
    fn strided_input_is_made_contiguous_first() {
        let x = Tensor::arange(0f32, 12.0, &Device::Cpu).unwrap().reshape((3, 4)).unwrap().t().unwrap();
        let got: Vec<Vec<f32>> = softmax_last_dim(&x).unwrap().to_vec2().unwrap();
        let rows: Vec<Vec<f32>> = x.to_vec2().unwrap();
        for (g, r) in got.iter().zip(&rows) {
            for (a, b) in g.iter().zip(reference_softmax(r)) {
                assert!((*a as f64 - b).abs() < 1e-7);
            }
        }
    }
}
