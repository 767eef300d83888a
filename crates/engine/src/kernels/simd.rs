//! Building blocks shared by the optimised kernels.

/// int8 dot product. Sixteen independent lanes let LLVM use wide SIMD
/// multiply-adds; short vectors take the scalar path, which is faster there.
/// Wrapping int32 arithmetic makes every summation order give the same result.
#[inline(always)]
pub(crate) fn dot(a: &[i8], b: &[i8]) -> i32 {
    const LANES: usize = 16;
    let scalar = |a: &[i8], b: &[i8]| {
        a.iter().zip(b).fold(0i32, |s, (&x, &y)| {
            s.wrapping_add(i32::from(x) * i32::from(y))
        })
    };
    if a.len() < LANES {
        return scalar(a, b);
    }
    let mut acc = [0i32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail = scalar(ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for j in 0..LANES {
            acc[j] = acc[j].wrapping_add(i32::from(x[j]) * i32::from(y[j]));
        }
    }
    acc.iter().fold(tail, |s, &v| s.wrapping_add(v))
}

/// Compiles a kernel body twice on x86-64 hosts: once for the baseline CPU and
/// once with AVX2, picked at run time. On other targets (the firmware) only
/// the baseline version exists.
macro_rules! host_multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty => $body:path) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use host_multiversion;

/// Output channels processed per block by the optimised kernels: their
/// folded biases, multipliers and shifts are unpacked once onto the stack.
pub(crate) const BLOCK: usize = 64;

/// Per-channel constants of one block of output channels.
pub(crate) struct ChannelBlock {
    pub bias: [i32; BLOCK],
    pub mult: [i32; BLOCK],
    pub shift: [i32; BLOCK],
}

impl ChannelBlock {
    /// Unpacks channels `start..start + n` (n <= BLOCK); `folded(j)` adds the
    /// folded input offset of channel `start + j` to its bias.
    #[inline(always)]
    pub(crate) fn load(
        bias: Option<super::I32s<'_>>,
        mult: super::I32s<'_>,
        shift: super::Shifts<'_>,
        start: usize,
        n: usize,
        folded: impl Fn(usize) -> i32,
    ) -> Self {
        let mut b = ChannelBlock {
            bias: [0; BLOCK],
            mult: [0; BLOCK],
            shift: [0; BLOCK],
        };
        for j in 0..n.min(BLOCK) {
            let o = start + j;
            b.bias[j] = bias.map_or(0, |v| v.get(o)).wrapping_add(folded(j));
            b.mult[j] = mult.get(o);
            b.shift[j] = shift.get(o);
        }
        b
    }

    /// Requantizes `acc` (bias not yet added) into `out`, channel by channel.
    #[inline(always)]
    pub(crate) fn requantize(&self, acc: &[i32], out: &mut [i8], tail: (i32, i32, i32)) {
        for ((((o, &a), &b), &m), &s) in out
            .iter_mut()
            .zip(acc)
            .zip(&self.bias)
            .zip(&self.mult)
            .zip(&self.shift)
        {
            *o = super::reference::requantize(a, b, m, s, tail);
        }
    }
}
