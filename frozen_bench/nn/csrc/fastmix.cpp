// CPU kernels for frozen_bench.nn.fast: in-cache Walsh-Hadamard butterflies and the O(n) passes
// that turn an rfft into an orthonormal DCT-II / packed real FFT (and back); and the per-channel
// bi-slope PAct f(x) = a x+ - b x- + c (one pass forward, one pass backward with its parameter sums);
// the 2x2 max pool (no index tensor); training-mode BatchNorm fused with the bi-slope PAct; a CNN
// stage's evaluation tail (norm, PAct, LoRA, max pool) in one pass; LoRA on feature maps in training.
//
// Plain C ABI, loaded with ctypes: no PyTorch headers, so the build takes about a second and needs
// only a C++17 compiler. Built at first use by frozen_bench/nn/native.py with -O3 -march=native;
// any failure there falls back to the pure-PyTorch path.
//
// Vectors use the GCC/Clang vector extension, so one source compiles to AVX-512, AVX2, SSE or NEON.
// Rows are independent; OpenMP splits them between threads (the caller passes torch's thread count;
// libgomp is the same runtime torch already loaded, so there is one thread pool, not two).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__AVX512F__)
#define FB_VBYTES 64
#elif defined(__AVX__)
#define FB_VBYTES 32
#else
#define FB_VBYTES 16
#endif

#define FB_ABI_VERSION 8

// Below this many elements a call runs on one thread: fork/join would cost more than it saves.
static const int64_t kParallelMin = 1 << 15;

namespace {

template <typename T> struct IntOf;
template <> struct IntOf<float> { typedef int32_t type; };
template <> struct IntOf<double> { typedef int64_t type; };

template <typename T> struct Vec {
  typedef T type __attribute__((vector_size(FB_VBYTES)));
  typedef typename IntOf<T>::type itype __attribute__((vector_size(FB_VBYTES)));
  static constexpr int W = FB_VBYTES / sizeof(T);
};

template <typename V, typename T> static inline V vload(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));  // unaligned-safe; compiles to one vector load
  return v;
}
template <typename V, typename T> static inline void vstore(T* p, V v) { std::memcpy(p, &v, sizeof(V)); }

// Lane i <- lane i^H of v.
template <int H, typename T, std::size_t... I>
static inline typename Vec<T>::type swap_lanes(typename Vec<T>::type v, std::index_sequence<I...>) {
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
  return __builtin_shufflevector(v, v, (int)(I ^ H)...);
#else
  typename Vec<T>::itype m = {(typename IntOf<T>::type)(I ^ H)...};
  return __builtin_shuffle(v, m);
#endif
}

// +1 on lanes whose bit H is clear (they keep a+b), -1 where it is set (they keep a-b).
template <int H, typename T, std::size_t... I>
static inline typename Vec<T>::type lane_signs(std::index_sequence<I...>) {
  typename Vec<T>::type s = {(T)((I & H) ? -1 : 1)...};
  return s;
}

// Two-register shuffles by pattern: 0 = even lanes of (a,b), 1 = odd lanes, 2 = reverse a,
// 3 = interleave the low halves of a and b (a0 b0 a1 b1 ...), 4 = interleave their high halves.
template <int KIND, int W> constexpr int lane_pattern(int i) {
  return KIND == 0 ? 2 * i : KIND == 1 ? 2 * i + 1 : KIND == 2 ? W - 1 - i
       : (KIND == 3 ? 0 : W / 2) + (i & 1) * W + i / 2;
}
template <int KIND, typename T, std::size_t... I>
static inline typename Vec<T>::type shuffle2(typename Vec<T>::type a, typename Vec<T>::type b,
                                             std::index_sequence<I...>) {
  constexpr int W = Vec<T>::W;
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
  return __builtin_shufflevector(a, b, lane_pattern<KIND, W>(I)...);
#else
  typename Vec<T>::itype m = {(typename IntOf<T>::type)lane_pattern<KIND, W>(I)...};
  return __builtin_shuffle(a, b, m);
#endif
}

template <typename T> struct Kern {
  typedef typename Vec<T>::type V;
  static constexpr int W = Vec<T>::W;
  typedef std::make_index_sequence<W> Seq;

  // Complex numbers k..k+W-1 of interleaved p, as (re, im) registers; reversed order if REV.
  template <bool REV> static inline void load_complex(const T* p, V& re, V& im) {
    const V lo = vload<V>(p), hi = vload<V>(p + W);
    re = shuffle2<0, T>(lo, hi, Seq{});
    im = shuffle2<1, T>(lo, hi, Seq{});
    if constexpr (REV) {
      re = shuffle2<2, T>(re, re, Seq{});
      im = shuffle2<2, T>(im, im, Seq{});
    }
  }
  static inline V reversed(V v) { return shuffle2<2, T>(v, v, Seq{}); }

  // One butterfly stage of span H (< W) inside a register: shuffle + fused multiply-add.
  template <int H> static inline V stage(V v) {
    return swap_lanes<H, T>(v, Seq{}) + lane_signs<H, T>(Seq{}) * v;
  }
  // The full length-W transform of one register (log2 W stages, no memory traffic).
  static inline V in_register(V v) {
    if constexpr (W >= 2) v = stage<1>(v);
    if constexpr (W >= 4) v = stage<2>(v);
    if constexpr (W >= 8) v = stage<4>(v);
    if constexpr (W >= 16) v = stage<8>(v);
    return v;
  }
  // log2 R stages across R registers.
  template <int R> static inline void across(V* a) {
#pragma GCC unroll 8
    for (int h = 1; h < R; h <<= 1)
#pragma GCC unroll 8
      for (int i = 0; i < R; i += 2 * h)
#pragma GCC unroll 8
        for (int j = i; j < i + h; ++j) {
          V u = a[j], w = a[j + h];
          a[j] = u + w;
          a[j + h] = u - w;
        }
  }

  // First pass, out of place: blocks of R*W elements get log2(W) + log2(R) stages in registers.
  template <int R> static void first_pass(const T* src, T* dst, int64_t n, T scale, bool last) {
    for (int64_t b = 0; b < n; b += R * W) {
      V a[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) a[r] = in_register(vload<V>(src + b + r * W));
      across<R>(a);
      if (last)
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) a[r] *= scale;
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) vstore(dst + b + r * W, a[r]);
    }
  }

  // Later passes, in place: log2 R stages of spans h, 2h, .. (h a multiple of W) per sweep.
  template <int R> static void radix_pass(T* x, int64_t n, int64_t h, T scale, bool last) {
    for (int64_t b = 0; b < n; b += R * h)
      for (int64_t j = b; j < b + h; j += W) {
        V a[R];
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) a[r] = vload<V>(x + j + r * h);
        across<R>(a);
        if (last)
#pragma GCC unroll 8
          for (int r = 0; r < R; ++r) a[r] *= scale;
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) vstore(x + j + r * h, a[r]);
      }
  }

  static void scalar_row(const T* src, T* dst, int64_t n, T scale) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
    for (int64_t h = 1; h < n; h <<= 1)
      for (int64_t i = 0; i < n; i += 2 * h)
        for (int64_t j = i; j < i + h; ++j) {
          T u = dst[j], w = dst[j + h];
          dst[j] = u + w;
          dst[j + h] = u - w;
        }
    for (int64_t i = 0; i < n; ++i) dst[i] *= scale;
  }

  static int ilog2(int64_t v) {
    int l = 0;
    while ((int64_t(1) << l) < v) ++l;
    return l;
  }

  // src and dst may alias (in-place call).
  static void row(const T* src, T* dst, int64_t n, T scale) {
    if (n < W) {
      scalar_row(src, dst, n, scale);
      return;
    }
    const int64_t nv = n / W;  // registers per row
    const int64_t r0 = nv >= 8 ? 8 : nv;
    int rest = ilog2(nv) - ilog2(r0);  // stages left after the first pass
    switch (r0) {
      case 8: first_pass<8>(src, dst, n, scale, rest == 0); break;
      case 4: first_pass<4>(src, dst, n, scale, rest == 0); break;
      case 2: first_pass<2>(src, dst, n, scale, rest == 0); break;
      default: first_pass<1>(src, dst, n, scale, rest == 0); break;
    }
    int64_t h = r0 * W;
    while (rest > 0) {
      const int k = rest >= 3 ? 3 : rest;
      rest -= k;
      if (k == 3) radix_pass<8>(dst, n, h, scale, rest == 0);
      else if (k == 2) radix_pass<4>(dst, n, h, scale, rest == 0);
      else radix_pass<2>(dst, n, h, scale, rest == 0);
      h <<= k;
    }
  }

  static void wht(const T* src, T* dst, int64_t rows, int64_t n, T scale, int nthreads) {
    const bool par = nthreads > 1 && rows > 1 && rows * n >= kParallelMin;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t r = 0; r < rows; ++r) row(src + r * n, dst + r * n, n, scale);
  }

  // Makhoul's reordering: v = [x0, x2, x4, .., x5, x3, x1].
  static void dct_pre(const T* x, T* v, int64_t rows, int64_t n, int nthreads) {
    const bool par = nthreads > 1 && rows > 1 && rows * n >= kParallelMin;
    const int64_t ne = (n + 1) / 2, no = n / 2;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * n;
      T* vr = v + r * n;
      for (int64_t j = 0; j < ne; ++j) vr[j] = xr[2 * j];
      for (int64_t j = 0; j < no; ++j) vr[n - 1 - j] = xr[2 * j + 1];
    }
  }

  // y from V = rfft(v) (n/2+1 interleaved complex): y_m = C_m Re V_m + S_m Im V_m and
  // y_{n-m} = S_m Re V_m - C_m Im V_m, with C/S the scaled twiddle tables (C_0 holds 1/sqrt n).
  static void dct_post(const T* V, T* y, const T* C, const T* S, int64_t rows, int64_t n,
                       int nthreads) {
    const bool par = nthreads > 1 && rows > 1 && rows * n >= kParallelMin;
    const int64_t nc = n / 2 + 1, K = (n - 1) / 2;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t r = 0; r < rows; ++r) {
      const T* Vr = V + r * 2 * nc;
      T* yr = y + r * n;
      yr[0] = C[0] * Vr[0];
      for (int64_t m = 1; m <= K; ++m) {
        const T re = Vr[2 * m], im = Vr[2 * m + 1];
        yr[m] = C[m] * re + S[m] * im;
        yr[n - m] = S[m] * re - C[m] * im;
      }
      if (n % 2 == 0 && n > 1) yr[n / 2] = C[n / 2] * Vr[n] + S[n / 2] * Vr[n + 1];
    }
  }

  // Inverse of dct_post: V from y, with tables IC/IS (IC_0, IC_{n/2} hold the real-only factors).
  static void dct3_pre(const T* y, T* V, const T* IC, const T* IS, int64_t rows, int64_t n,
                       int nthreads) {
    const bool par = nthreads > 1 && rows > 1 && rows * n >= kParallelMin;
    const int64_t nc = n / 2 + 1, K = (n - 1) / 2;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t r = 0; r < rows; ++r) {
      const T* yr = y + r * n;
      T* Vr = V + r * 2 * nc;
      Vr[0] = IC[0] * yr[0];
      Vr[1] = 0;
      for (int64_t m = 1; m <= K; ++m) {
        const T a = yr[m], b = yr[n - m];
        Vr[2 * m] = IC[m] * a + IS[m] * b;
        Vr[2 * m + 1] = IS[m] * a - IC[m] * b;
      }
      if (n % 2 == 0 && n > 1) {
        Vr[n] = IC[n / 2] * yr[n / 2];
        Vr[n + 1] = 0;
      }
    }
  }

  // Inverse of dct_pre.
  static void dct3_post(const T* v, T* x, int64_t rows, int64_t n, int nthreads) {
    const bool par = nthreads > 1 && rows > 1 && rows * n >= kParallelMin;
    const int64_t ne = (n + 1) / 2, no = n / 2;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t r = 0; r < rows; ++r) {
      const T* vr = v + r * n;
      T* xr = x + r * n;
      for (int64_t j = 0; j < ne; ++j) xr[2 * j] = vr[j];
      for (int64_t j = 0; j < no; ++j) xr[2 * j + 1] = vr[n - 1 - j];
    }
  }

  // Orthonormal rfft (interleaved complex) -> n reals [Re X0, s Re X1.., Re X_{n/2}, s Im X1..].
  static void fft_pack(const T* X, T* y, int64_t rows, int64_t n, T s, int nthreads) {
    const bool par = nthreads > 1 && rows > 1 && rows * n >= kParallelMin;
    const int64_t nc = n / 2 + 1, K = (n - 1) / 2, off = n - K - 1;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t r = 0; r < rows; ++r) {
      const T* Xr = X + r * 2 * nc;
      T* yr = y + r * n;
      yr[0] = Xr[0];
      for (int64_t k = 1; k <= K; ++k) {
        yr[k] = s * Xr[2 * k];
        yr[off + k] = s * Xr[2 * k + 1];
      }
      if (n % 2 == 0 && n > 1) yr[n / 2] = Xr[n];
    }
  }

  static void fft_unpack(const T* y, T* X, int64_t rows, int64_t n, T s, int nthreads) {
    const bool par = nthreads > 1 && rows > 1 && rows * n >= kParallelMin;
    const int64_t nc = n / 2 + 1, K = (n - 1) / 2, off = n - K - 1;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t r = 0; r < rows; ++r) {
      const T* yr = y + r * n;
      T* Xr = X + r * 2 * nc;
      Xr[0] = yr[0];
      Xr[1] = 0;
      for (int64_t k = 1; k <= K; ++k) {
        Xr[2 * k] = s * yr[k];
        Xr[2 * k + 1] = s * yr[off + k];
      }
      if (n % 2 == 0 && n > 1) {
        Xr[n] = yr[n / 2];
        Xr[n + 1] = 0;
      }
    }
  }

  // ---- even n: the FFT of the n reals as n/2 complex numbers (z_m = x_2m + i x_2m+1), split ----
  // With Z = fft_{N}(z), N = n/2, A = Z_k, B = Z_{N-k} (Z_N = Z_0), w = e^{-2 pi i k/n}:
  //   X_k = (A + conj B)/2 + w (A - conj B)/(2i)      (the rfft of the n reals, k = 0..N)
  // Doing this split ourselves saves the pass an rfft makes after its internal complex FFT.

  // fft_real: y = [s0 Re X0, s1 Re X1.., s0 Re X_N, s1 Im X1..] with P = s1 Re w / 2, Q = s1 Im w / 2.
  static void fft_split_pack(const T* Z, T* y, const T* P, const T* Q, int64_t rows, int64_t n,
                             T h, T s0, int nthreads) {
    const bool par = nthreads > 1 && rows > 1 && rows * n >= kParallelMin;
    const int64_t N = n / 2;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t r = 0; r < rows; ++r) {
      const T* Zr = Z + r * n;
      T* yr = y + r * n;
      yr[0] = s0 * (Zr[0] + Zr[1]);
      yr[N] = s0 * (Zr[0] - Zr[1]);
      int64_t k = 1;
      for (; k < W && k < N; ++k) {  // peel to k = W: then the Z_k loads and y stores are aligned
        const T ar = Zr[2 * k], ai = Zr[2 * k + 1], br = Zr[2 * (N - k)], bi = Zr[2 * (N - k) + 1];
        const T sr = ar + br, di = ai - bi, si = ai + bi, dr = br - ar;
        yr[k] = h * sr + P[k] * si - Q[k] * dr;
        yr[N + k] = h * di + P[k] * dr + Q[k] * si;
      }
      // Explicit vectors: the compiler does not vectorize the reversed, interleaved read of Z_{N-k}.
      for (; k + W <= N; k += W) {
        V ar, ai, br, bi;
        load_complex<false>(Zr + 2 * k, ar, ai);
        load_complex<true>(Zr + 2 * (N - k - W + 1), br, bi);
        const V sr = ar + br, di = ai - bi, si = ai + bi, dr = br - ar;
        const V p = vload<V>(P + k), q = vload<V>(Q + k);
        vstore(yr + k, h * sr + p * si - q * dr);
        vstore(yr + N + k, h * di + p * dr + q * si);
      }
      for (; k < N; ++k) {
        const T ar = Zr[2 * k], ai = Zr[2 * k + 1], br = Zr[2 * (N - k)], bi = Zr[2 * (N - k) + 1];
        const T sr = ar + br, di = ai - bi, si = ai + bi, dr = br - ar;
        yr[k] = h * sr + P[k] * si - Q[k] * dr;
        yr[N + k] = h * di + P[k] * dr + Q[k] * si;
      }
    }
  }

  // Inverse of fft_split_pack: Z_k = g [(A + conj B) + i conj(w) (A - conj B)], A = X_k, B = X_{N-k},
  // X read back from y; then z = ifft_N(Z) without scaling (norm="forward") is x as complex pairs.
  // Tables: Cw = cos(2 pi k/n), Sw = sin(2 pi k/n); g0 scales the real-only bins, g the others.
  static void fft_unsplit_unpack(const T* y, T* Z, const T* Cw, const T* Sw, int64_t rows,
                                 int64_t n, T g0, T g, int nthreads) {
    const bool par = nthreads > 1 && rows > 1 && rows * n >= kParallelMin;
    const int64_t N = n / 2;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t r = 0; r < rows; ++r) {
      const T* yr = y + r * n;
      T* Zr = Z + r * n;
      Zr[0] = g0 * (yr[0] + yr[N]);
      Zr[1] = g0 * (yr[0] - yr[N]);
      for (int64_t k = 1; k < N; ++k) {
        const T ar = yr[k], ai = yr[N + k], br = yr[N - k], bi = yr[n - k];
        const T Dr = ar - br, Di = ai + bi;
        Zr[2 * k] = g * ((ar + br) - Sw[k] * Dr - Cw[k] * Di);
        Zr[2 * k + 1] = g * ((ai - bi) - Sw[k] * Di + Cw[k] * Dr);
      }
    }
  }

  // DCT-II from Z = fft_N(v as complex pairs): V_k by the split (Hr, Hi = Re w/2, Im w/2), then
  // y_k = C_k Re V_k + S_k Im V_k, y_{n-k} = S_k Re V_k - C_k Im V_k.
  static void dct_split_post(const T* Z, T* y, const T* Hr, const T* Hi, const T* C, const T* S,
                             int64_t rows, int64_t n, int nthreads) {
    const bool par = nthreads > 1 && rows > 1 && rows * n >= kParallelMin;
    const int64_t N = n / 2;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t r = 0; r < rows; ++r) {
      const T* Zr = Z + r * n;
      T* yr = y + r * n;
      yr[0] = C[0] * (Zr[0] + Zr[1]);
      yr[N] = C[N] * (Zr[0] - Zr[1]);
      int64_t k = 1;
      for (; k < W && k < N; ++k) {  // peel to k = W (aligned loads of Z_k)
        const T ar = Zr[2 * k], ai = Zr[2 * k + 1], br = Zr[2 * (N - k)], bi = Zr[2 * (N - k) + 1];
        const T sr = ar + br, di = ai - bi, si = ai + bi, dr = br - ar;
        const T vr = T(0.5) * sr + Hr[k] * si - Hi[k] * dr;
        const T vi = T(0.5) * di + Hr[k] * dr + Hi[k] * si;
        yr[k] = C[k] * vr + S[k] * vi;
        yr[n - k] = S[k] * vr - C[k] * vi;
      }
      for (; k + W <= N; k += W) {
        V ar, ai, br, bi;
        load_complex<false>(Zr + 2 * k, ar, ai);
        load_complex<true>(Zr + 2 * (N - k - W + 1), br, bi);
        const V sr = ar + br, di = ai - bi, si = ai + bi, dr = br - ar;
        const V hr = vload<V>(Hr + k), hi = vload<V>(Hi + k), c = vload<V>(C + k), sn = vload<V>(S + k);
        const V vr = T(0.5) * sr + hr * si - hi * dr;
        const V vi = T(0.5) * di + hr * dr + hi * si;
        vstore(yr + k, c * vr + sn * vi);
        vstore(yr + n - k - W + 1, reversed(sn * vr - c * vi));
      }
      for (; k < N; ++k) {
        const T ar = Zr[2 * k], ai = Zr[2 * k + 1], br = Zr[2 * (N - k)], bi = Zr[2 * (N - k) + 1];
        const T sr = ar + br, di = ai - bi, si = ai + bi, dr = br - ar;
        const T vr = T(0.5) * sr + Hr[k] * si - Hi[k] * dr;
        const T vi = T(0.5) * di + Hr[k] * dr + Hi[k] * si;
        yr[k] = C[k] * vr + S[k] * vi;
        yr[n - k] = S[k] * vr - C[k] * vi;
      }
    }
  }

  // Inverse of dct_split_post: V from y (IC/IS tables, 1/n folded in), then the inverse split
  // Z_k = (V_k + conj V_{N-k}) + i conj(w)(V_k - conj V_{N-k}); ifft_N(Z) unscaled gives v.
  static void dct3_unsplit_pre(const T* y, T* Z, const T* IC, const T* IS, const T* Cw,
                               const T* Sw, int64_t rows, int64_t n, int nthreads) {
    const bool par = nthreads > 1 && rows > 1 && rows * n >= kParallelMin;
    const int64_t N = n / 2;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t r = 0; r < rows; ++r) {
      const T* yr = y + r * n;
      T* Zr = Z + r * n;
      const T v0 = IC[0] * yr[0], vN = IC[N] * yr[N];  // V_0, V_N are real
      Zr[0] = v0 + vN;
      Zr[1] = v0 - vN;
      for (int64_t k = 1; k < N; ++k) {
        const int64_t m = N - k;
        const T ar = IC[k] * yr[k] + IS[k] * yr[n - k], ai = IS[k] * yr[k] - IC[k] * yr[n - k];
        const T br = IC[m] * yr[m] + IS[m] * yr[n - m], bi = IS[m] * yr[m] - IC[m] * yr[n - m];
        const T Dr = ar - br, Di = ai + bi;
        Zr[2 * k] = (ar + br) - Sw[k] * Dr - Cw[k] * Di;
        Zr[2 * k + 1] = (ai - bi) - Sw[k] * Di + Cw[k] * Dr;
      }
    }
  }
};


// ---- bi-slope PAct on (B, C, S) contiguous (S = prod of spatial dims, 1 for (B, C)) ----------
// Forward y = a_c x + c_c (x > 0), b_c x + c_c (x <= 0): a relu(x) - b relu(-x) + c, exactly (the
// dropped terms are zeros). Backward as autograd differentiates that expression: dy/dx = a (x > 0),
// b (x < 0), 0 (x == 0, relu'(0) = 0); sums[c] += g x (x > 0), sums[C + c] += g x (x < 0),
// sums[2C + c] += g, accumulated in double.
template <typename T> struct PAct {
  static void fwd(const T* x, T* y, const T* a, const T* b, const T* c, int64_t B, int64_t C, int64_t S,
                  int nthreads) {
    const bool par = nthreads > 1 && B * C * S >= kParallelMin;
    if (S == 1) {
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
      for (int64_t r = 0; r < B; ++r) {
        const T* xr = x + r * C;
        T* yr = y + r * C;
#pragma omp simd
        for (int64_t k = 0; k < C; ++k) {
          const T v = xr[k];
          yr[k] = (v > 0 ? a[k] : b[k]) * v + c[k];
        }
      }
      return;
    }
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t p = 0; p < B * C; ++p) {
      const int64_t k = p % C;
      const T ak = a[k], bk = b[k], ck = c[k];
      const T* xp = x + p * S;
      T* yp = y + p * S;
#pragma omp simd
      for (int64_t s = 0; s < S; ++s) {
        const T v = xp[s];
        yp[s] = (v > 0 ? ak : bk) * v + ck;
      }
    }
  }

  static void bwd(const T* x, const T* g, T* gx, const T* a, const T* b, double* sums, int64_t B, int64_t C,
                  int64_t S, int nthreads) {
    const bool par = nthreads > 1 && B * C * S >= kParallelMin;
    for (int64_t i = 0; i < 3 * C; ++i) sums[i] = 0;
    if (S == 1) {  // rows: each thread sums its rows into its own buffer, then adds it in
#pragma omp parallel num_threads(nthreads) if (par)
      {
        double* loc = new double[3 * C]();
#pragma omp for schedule(static)
        for (int64_t r = 0; r < B; ++r) {
          const T* xr = x + r * C;
          const T* gr = g + r * C;
#pragma omp simd
          for (int64_t k = 0; k < C; ++k) {
            const T v = xr[k], gv = gr[k], gxv = gv * v;
            if (gx) gx[r * C + k] = v > 0 ? gv * a[k] : (v < 0 ? gv * b[k] : (T)0);
            loc[k] += v > 0 ? gxv : (T)0;
            loc[C + k] += v < 0 ? gxv : (T)0;
            loc[2 * C + k] += gv;
          }
        }
#pragma omp critical
        for (int64_t i = 0; i < 3 * C; ++i) sums[i] += loc[i];
        delete[] loc;
      }
      return;
    }
    // planes: a thread owns whole channels, so no two threads add to one sum
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par && C > 1)
    for (int64_t k = 0; k < C; ++k) {
      const T ak = a[k], bk = b[k];
      double sa = 0, sb = 0, sc = 0;
      for (int64_t bi = 0; bi < B; ++bi) {
        const int64_t o = (bi * C + k) * S;
        const T* xp = x + o;
        const T* gp = g + o;
        T pa = 0, pb = 0, pc = 0;
#pragma omp simd reduction(+ : pa, pb, pc)
        for (int64_t s = 0; s < S; ++s) {
          const T v = xp[s], gv = gp[s], gxv = gv * v;
          if (gx) gx[o + s] = v > 0 ? gv * ak : (v < 0 ? gv * bk : (T)0);
          pa += v > 0 ? gxv : (T)0;
          pb += v < 0 ? gxv : (T)0;
          pc += gv;
        }
        sa += pa, sb += pb, sc += pc;
      }
      sums[k] = sa, sums[C + k] = sb, sums[2 * C + k] = sc;
    }
  }
};

// ---- 2x2 max pool, stride 2, no padding, on (P, H, W) contiguous planes (floor: an odd last row
// or column is dropped), exactly as torch's max_pool2d: a window's entries are scanned in row-major
// order and one replaces the running maximum if it is larger or NaN (so the first maximum wins, and
// the last NaN). Backward recomputes the winner from x (no index tensor) and writes every entry of
// gx once (no separate zero fill).
//
// Vectorized across one output row: a register of L outputs reads 2L inputs of each of the two
// input rows, split into even and odd lanes. Output rows are short (14 and 7 at 28x28), shorter
// than a register, so a row's last partial register still loads a whole one when the buffer
// continues past it (the extra lanes are computed and dropped) and goes through a stack copy only
// at the very end of the buffer; a scalar loop per entry ran at 1.5 ns per output.
template <typename T> struct Pool {
  typedef typename Vec<T>::type V;
  typedef typename Vec<T>::itype M;
  static constexpr int L = Vec<T>::W;
  typedef std::make_index_sequence<L> Seq;

  static inline M beats(V v, V m) { return (M)(v > m) | (M)(v != v); }
  static inline V sel(M s, V a, V b) { return (V)((s & (M)a) | (~s & (M)b)); }
  static inline V keep(M s, V g) { return (V)(s & (M)g); }

  // window corners of L outputs: a = top row, b = bottom row, 0/1 = left/right
  static inline void corners(const T* r0, const T* r1, V& a0, V& a1, V& b0, V& b1) {
    const V t0 = vload<V>(r0), t1 = vload<V>(r0 + L), u0 = vload<V>(r1), u1 = vload<V>(r1 + L);
    a0 = shuffle2<0, T>(t0, t1, Seq{});
    a1 = shuffle2<1, T>(t0, t1, Seq{});
    b0 = shuffle2<0, T>(u0, u1, Seq{});
    b1 = shuffle2<1, T>(u0, u1, Seq{});
  }
  static inline V fwd_block(const T* r0, const T* r1) {
    V a0, a1, b0, b1;
    corners(r0, r1, a0, a1, b0, b1);
    V m = sel(beats(a1, a0), a1, a0);
    m = sel(beats(b0, m), b0, m);
    return sel(beats(b1, m), b1, m);
  }
  // gradient of L outputs -> 2L entries of each input row (o0: top, o1: bottom)
  static inline void bwd_block(const T* r0, const T* r1, V gv, T* o0, T* o1) {
    V a0, a1, b0, b1;
    corners(r0, r1, a0, a1, b0, b1);
    const M s1 = beats(a1, a0);
    const V m1 = sel(s1, a1, a0);
    const M s2 = beats(b0, m1);
    const V m2 = sel(s2, b0, m1);
    const M s3 = beats(b1, m2);
    const V ga0 = keep(~(s1 | s2 | s3), gv), ga1 = keep(s1 & ~s2 & ~s3, gv);
    const V gb0 = keep(s2 & ~s3, gv), gb1 = keep(s3, gv);
    vstore(o0, shuffle2<3, T>(ga0, ga1, Seq{}));
    vstore(o0 + L, shuffle2<4, T>(ga0, ga1, Seq{}));
    vstore(o1, shuffle2<3, T>(gb0, gb1, Seq{}));
    vstore(o1 + L, shuffle2<4, T>(gb0, gb1, Seq{}));
  }

  static void fwd(const T* x, T* y, int64_t P, int64_t H, int64_t W, int nthreads) {
    const int64_t Ho = H / 2, Wo = W / 2;
    const T* xend = x + P * H * W;
    const bool par = nthreads > 1 && P > 1 && P * H * W >= kParallelMin;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t p = 0; p < P; ++p) {
      const T* xp = x + p * H * W;
      T* yp = y + p * Ho * Wo;
      for (int64_t i = 0; i < Ho; ++i) {
        const T* r0 = xp + 2 * i * W;
        const T* r1 = r0 + W;
        T* yr = yp + i * Wo;
        int64_t j = 0;
        for (; j + L <= Wo; j += L) vstore(yr + j, fwd_block(r0 + 2 * j, r1 + 2 * j));
        const int64_t n = Wo - j;
        if (n == 0) continue;
        V out;
        if (r1 + 2 * j + 2 * L <= xend) {
          out = fwd_block(r0 + 2 * j, r1 + 2 * j);  // reads past the row, within the buffer
        } else {
          T b0[2 * L] = {}, b1[2 * L] = {};
          std::memcpy(b0, r0 + 2 * j, sizeof(T) * 2 * n);
          std::memcpy(b1, r1 + 2 * j, sizeof(T) * 2 * n);
          out = fwd_block(b0, b1);
        }
        std::memcpy(yr + j, &out, sizeof(T) * n);
      }
    }
  }

  static void bwd(const T* x, const T* g, T* gx, int64_t P, int64_t H, int64_t W, int nthreads) {
    const int64_t Ho = H / 2, Wo = W / 2;
    const T* xend = x + P * H * W;
    const T* gend = g + P * Ho * Wo;
    const bool par = nthreads > 1 && P > 1 && P * H * W >= kParallelMin;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t p = 0; p < P; ++p) {
      const T* xp = x + p * H * W;
      const T* gp = g + p * Ho * Wo;
      T* op = gx + p * H * W;
      if ((H & 1) || (W & 1)) std::memset(op, 0, sizeof(T) * H * W);  // the dropped row/column
      for (int64_t i = 0; i < Ho; ++i) {
        const T* r0 = xp + 2 * i * W;
        const T* r1 = r0 + W;
        const T* gr = gp + i * Wo;
        T* o0 = op + 2 * i * W;
        T* o1 = o0 + W;
        int64_t j = 0;
        for (; j + L <= Wo; j += L) bwd_block(r0 + 2 * j, r1 + 2 * j, vload<V>(gr + j), o0 + 2 * j, o1 + 2 * j);
        const int64_t n = Wo - j;
        if (n == 0) continue;
        T t0[2 * L], t1[2 * L];  // the partial register's gradients, copied out for its n outputs
        if (r1 + 2 * j + 2 * L <= xend && gr + j + L <= gend) {
          bwd_block(r0 + 2 * j, r1 + 2 * j, vload<V>(gr + j), t0, t1);
        } else {
          T b0[2 * L] = {}, b1[2 * L] = {}, gb[L] = {};
          std::memcpy(b0, r0 + 2 * j, sizeof(T) * 2 * n);
          std::memcpy(b1, r1 + 2 * j, sizeof(T) * 2 * n);
          std::memcpy(gb, gr + j, sizeof(T) * n);
          bwd_block(b0, b1, vload<V>(gb), t0, t1);
        }
        std::memcpy(o0 + 2 * j, t0, sizeof(T) * 2 * n);
        std::memcpy(o1 + 2 * j, t1, sizeof(T) * 2 * n);
      }
    }
  }
};


// ---- training-mode BatchNorm fused with the bi-slope PAct on (B, C, S): y = f(g (x - mu) inv + be),
// f(z) = (z > 0 ? a : b) z + c per channel. Statistics: one pass per channel, sums taken about the
// channel's first value (no cancellation when |mean| >> std), in double. Forward: one more pass,
// writing y only (unfused: BatchNorm writes z, the PAct reads it and writes y). Backward: one pass
// for the five parameter sums and, only if the input needs a gradient, one pass writing it.
// A thread owns whole channels, so no two threads add to one sum.
template <typename T> struct BNAct {
  // z = x sc + sh is the normalized, affine map g (x - mu) inv + be, in double before the cast
  static inline void scale_shift(const double* mean, const double* inv, const T* gamma, const T* beta, int64_t k,
                                 T& sc, T& sh) {
    const double s = inv[k] * (double)gamma[k];
    sc = (T)s;
    sh = (T)((double)beta[k] - mean[k] * inv[k] * (double)gamma[k]);
  }

  static void stats(const T* x, double* mean, double* var, int64_t B, int64_t C, int64_t S, int nthreads) {
    const bool par = nthreads > 1 && C > 1 && B * C * S >= kParallelMin;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t k = 0; k < C; ++k) {
      const T shift = x[k * S];
      double s1 = 0, s2 = 0;
      for (int64_t bi = 0; bi < B; ++bi) {
        const T* xp = x + (bi * C + k) * S;
        T p1 = 0, p2 = 0;
#pragma omp simd reduction(+ : p1, p2)
        for (int64_t i = 0; i < S; ++i) {
          const T d = xp[i] - shift;
          p1 += d;
          p2 += d * d;
        }
        s1 += p1;
        s2 += p2;
      }
      const double n = (double)(B * S), m = s1 / n;
      mean[k] = (double)shift + m;
      const double v = s2 / n - m * m;
      var[k] = v > 0 ? v : 0;
    }
  }

  static void fwd(const T* x, T* y, const double* mean, const double* inv, const T* gamma, const T* beta,
                  const T* a, const T* b, const T* c, int64_t B, int64_t C, int64_t S, int nthreads) {
    const bool par = nthreads > 1 && B * C * S >= kParallelMin;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t p = 0; p < B * C; ++p) {
      const int64_t k = p % C;
      T sc, sh;
      scale_shift(mean, inv, gamma, beta, k, sc, sh);
      const T ak = a[k], bk = b[k], ck = c[k];
      const T* xp = x + p * S;
      T* yp = y + p * S;
#pragma omp simd
      for (int64_t i = 0; i < S; ++i) {
        const T z = xp[i] * sc + sh;
        yp[i] = (z > 0 ? ak : bk) * z + ck;
      }
    }
  }

  // sums: 5 x C doubles, (d a, d b, d c, d gamma, d beta)
  static void bwd(const T* x, const T* g, T* gx, const double* mean, const double* inv, const T* gamma,
                  const T* beta, const T* a, const T* b, double* sums, int64_t B, int64_t C, int64_t S,
                  int nthreads) {
    const bool par = nthreads > 1 && C > 1 && B * C * S >= kParallelMin;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t k = 0; k < C; ++k) {
      T sc, sh;
      scale_shift(mean, inv, gamma, beta, k, sc, sh);
      const T mu = (T)mean[k], iv = (T)inv[k], ak = a[k], bk = b[k];
      double da = 0, db = 0, dc = 0, dg = 0, dbe = 0;
      for (int64_t bi = 0; bi < B; ++bi) {
        const int64_t o = (bi * C + k) * S;
        const T* xp = x + o;
        const T* gp = g + o;
        T pa = 0, pb = 0, pc = 0, pg = 0, pbe = 0;
#pragma omp simd reduction(+ : pa, pb, pc, pg, pbe)
        for (int64_t i = 0; i < S; ++i) {
          const T z = xp[i] * sc + sh, gv = gp[i], gz = gv * z;
          const T dz = z > 0 ? gv * ak : (z < 0 ? gv * bk : (T)0);
          pa += z > 0 ? gz : (T)0;
          pb += z < 0 ? gz : (T)0;
          pc += gv;
          pbe += dz;
          pg += dz * ((xp[i] - mu) * iv);
        }
        da += pa; db += pb; dc += pc; dg += pg; dbe += pbe;
      }
      sums[k] = da; sums[C + k] = db; sums[2 * C + k] = dc; sums[3 * C + k] = dg; sums[4 * C + k] = dbe;
      if (!gx) continue;
      const double n = (double)(B * S);
      const T m1 = (T)(dbe / n), m2 = (T)(dg / n);  // sc = g inv is the input gradient's factor
      for (int64_t bi = 0; bi < B; ++bi) {
        const int64_t o = (bi * C + k) * S;
        const T* xp = x + o;
        const T* gp = g + o;
        T* op = gx + o;
#pragma omp simd
        for (int64_t i = 0; i < S; ++i) {
          const T z = xp[i] * sc + sh, gv = gp[i];
          const T dz = z > 0 ? gv * ak : (z < 0 ? gv * bk : (T)0);
          op[i] = sc * (dz - m1 - ((xp[i] - mu) * iv) * m2);
        }
      }
    }
  }
};

// ---- the tail of a CNN stage at evaluation, in one pass: y = maxpool2x2(h + (h U) V), h = f(s z + t)
// per pixel, on (B, C, H, W) contiguous z; f is the bi-slope PAct (a, b, c; null a: identity), the
// per-channel affine (s, t) an evaluation-mode BatchNorm or its shift alone (null: 1 and 0), U (C, r) and V (r, C) a LoRA
// (r = 0: none; V passed transposed, Vt (C, r)). Unfused these are four passes that each write a
// full-resolution map and read it back; here a task is one output row of one image: its two input
// rows of every channel are activated into a buffer that stays in cache, mixed there (D = Uᵀh, then
// h += Vt D in place, the low-rank form: 4Cr FLOPs a pixel against 2C² for the merged C×C matrix),
// and pooled as the 2x2 max pool above (the same winners, NaN included). The same numbers as the
// separate ops up to float rounding (the products' order of summation).
template <typename T> struct StageTail {
  typedef typename Vec<T>::type V;
  static constexpr int L = Vec<T>::W;
  static constexpr int QB = 8;  // rank block: QB x PB accumulators stay in registers

  // (C, r) -> (C, rp), the rank padded to a multiple of QB by zero columns (new[]: the caller frees)
  static T* padded(const T* W, int64_t C, int64_t r, int64_t rp) {
    T* P = new T[C * rp]();
    for (int64_t k = 0; k < C; ++k) std::memcpy(P + k * rp, W + k * r, sizeof(T) * r);
    return P;
  }

  // D[q, p0 .. p0 + PB L) for q in [q0, q0 + QB) = sum_k Up[k, q] A[k, p0 ..]
  template <int PB>
  static inline void lowrank_block(const T* A, int64_t np, const T* Up, int64_t rp, int64_t C, int64_t q0,
                                   int64_t p0, T* D) {
    V acc[QB][PB];
    for (int q = 0; q < QB; ++q)
      for (int j = 0; j < PB; ++j) acc[q][j] = V{};
    for (int64_t k = 0; k < C; ++k) {
      V a[PB];
      for (int j = 0; j < PB; ++j) a[j] = vload<V>(A + k * np + p0 + j * L);
      const T* u = Up + k * rp + q0;
#pragma GCC unroll 8
      for (int q = 0; q < QB; ++q) {
        const T uq = u[q];
        for (int j = 0; j < PB; ++j) acc[q][j] += a[j] * uq;
      }
    }
    for (int q = 0; q < QB; ++q)
      for (int j = 0; j < PB; ++j) vstore(D + (q0 + q) * np + p0 + j * L, acc[q][j]);
  }

  template <int PB>
  static void lowrank(T* A, int64_t np, const T* Up, const T* Vt, int64_t C, int64_t r, int64_t rp, T* D) {
    for (int64_t q0 = 0; q0 < rp; q0 += QB)
      for (int64_t p0 = 0; p0 < np; p0 += PB * L) lowrank_block<PB>(A, np, Up, rp, C, q0, p0, D);
    // h[o] += sum_q Vt[o, q] D[q], in place (D is complete): a register of D per rank held across
    // every o, so each FMA reads only its broadcast weight
    for (int64_t q0 = 0; q0 < r; q0 += QB) {
      const int64_t nq = r - q0 < QB ? r - q0 : QB;
      for (int64_t p0 = 0; p0 < np; p0 += L) {
        V d[QB];
        for (int q = 0; q < QB; ++q) d[q] = q < nq ? vload<V>(D + (q0 + q) * np + p0) : V{};
        if (nq == QB) {
          for (int64_t o = 0; o < C; ++o) {
            const T* v = Vt + o * r + q0;
            V acc = vload<V>(A + o * np + p0);
#pragma GCC unroll 8
            for (int q = 0; q < QB; ++q) acc += d[q] * v[q];
            vstore(A + o * np + p0, acc);
          }
        } else {
          for (int64_t o = 0; o < C; ++o) {
            const T* v = Vt + o * r + q0;
            V acc = vload<V>(A + o * np + p0);
            for (int64_t q = 0; q < nq; ++q) acc += d[q] * v[q];
            vstore(A + o * np + p0, acc);
          }
        }
      }
    }
  }

  static void fwd(const T* z, T* y, const T* s, const T* t, const T* a, const T* b, const T* c, const T* U,
                  const T* Vt, int64_t B, int64_t C, int64_t H, int64_t W, int64_t r, int nthreads) {
    const int64_t Ho = H / 2, Wo = W / 2, n = 2 * W;
    if (Ho == 0 || Wo == 0) return;
    // PB = 2 registers of pixels per accumulator row unless that pads a short row by over a quarter
    const int pb = (n + 2 * L - 1) / (2 * L) * (2 * L) * 3 <= 4 * n ? 2 : 1;
    const int64_t np = (n + pb * L - 1) / (pb * L) * (pb * L);
    const int64_t rp = (r + QB - 1) / QB * QB;
    T* Up = r > 0 ? padded(U, C, r, rp) : nullptr;
    const int64_t tasks = B * Ho;
    const bool par = nthreads > 1 && tasks > 1 && B * C * H * W >= kParallelMin;
#pragma omp parallel num_threads(nthreads) if (par)
    {
      // the two rows of every channel, plus 2L of slack: the pool's last block reads past a row
      T* A = new T[C * np + 2 * L]();
      T* D = r > 0 ? new T[rp * np]() : nullptr;
#pragma omp for schedule(static)
      for (int64_t task = 0; task < tasks; ++task) {
        const int64_t bi = task / Ho, i = task % Ho;
        for (int64_t k = 0; k < C; ++k) {
          const T* zk = z + ((bi * C + k) * H + 2 * i) * W;  // rows 2i and 2i + 1 are adjacent
          T* ak = A + k * np;
          const T sk = s ? s[k] : (T)1, tk = t ? t[k] : (T)0;  // z * 1 + 0 is z exactly
          if (a) {
            const T pa = a[k], pb_ = b[k], pc = c[k];
#pragma omp simd
            for (int64_t p = 0; p < n; ++p) {
              const T v = zk[p] * sk + tk;
              ak[p] = (v > 0 ? pa : pb_) * v + pc;
            }
          } else {
#pragma omp simd
            for (int64_t p = 0; p < n; ++p) ak[p] = zk[p] * sk + tk;
          }
        }
        if (r > 0) {
          if (pb == 2) lowrank<2>(A, np, Up, Vt, C, r, rp, D);
          else lowrank<1>(A, np, Up, Vt, C, r, rp, D);
        }
        for (int64_t o = 0; o < C; ++o) {
          const T* r0 = A + o * np;
          const T* r1 = r0 + W;
          T* yo = y + ((bi * C + o) * Ho + i) * Wo;
          int64_t j = 0;
          for (; j + L <= Wo; j += L) vstore(yo + j, Pool<T>::fwd_block(r0 + 2 * j, r1 + 2 * j));
          if (j < Wo) {  // reads past the row into the next one or the slack; the extra lanes are dropped
            const V out = Pool<T>::fwd_block(r0 + 2 * j, r1 + 2 * j);
            std::memcpy(yo + j, &out, sizeof(T) * (Wo - j));
          }
        }
      }
      delete[] A;
      delete[] D;
    }
    delete[] Up;
  }
};


// ---- LoRA on (B, C, S) feature maps in training: y = h + Vᵀ(Uᵀh) at every pixel, low rank ----------
// One image at a time, its (C, S) block in cache: y is h copied, then updated in place by
// StageTail's low-rank step (D = Uᵀh saved for backward). Backward, with g the incoming gradient:
// E = V g, gh = g + U E (the same step with V and U in each other's places), gV += D gᵀ, gU += h Eᵀ
// (row dot products, summed per thread in double, then across threads). 12Cr FLOPs a pixel in all,
// five passes over a map, where the merged C×C form makes 6C² FLOPs and copies the map to and from a
// (C, B·S) layout. S must be a multiple of the vector width (the caller checks).
template <typename T> struct LoRAMap {
  typedef typename Vec<T>::type V;
  static constexpr int L = Vec<T>::W;
  static constexpr int QB = StageTail<T>::QB;

  static void mix(T* A, int64_t S, const T* Wp, const T* W2, int64_t C, int64_t r, int64_t rp, T* D) {
    if (S % (2 * L) == 0) StageTail<T>::template lowrank<2>(A, S, Wp, W2, C, r, rp, D);
    else StageTail<T>::template lowrank<1>(A, S, Wp, W2, C, r, rp, D);
  }

  static inline double hsum(V v) {
    T lanes[L];
    std::memcpy(lanes, &v, sizeof(V));
    double t = 0;
    for (int l = 0; l < L; ++l) t += lanes[l];
    return t;
  }

  // out[i, q] += sum_p X[i, p] Y[q, p] for i < n, q < r (rows of length S). Rows of X go two at a
  // time, so each load of a Y register feeds two FMAs (2 x QB accumulators stay in registers).
  static void rowdots(const T* X, int64_t n, const T* Y, int64_t r, int64_t S, double* out) {
    for (int64_t q0 = 0; q0 < r; q0 += QB) {
      const int64_t nq = r - q0 < QB ? r - q0 : QB;
      const T* Yq = Y + q0 * S;
      int64_t i = 0;
      for (; i + 2 <= n; i += 2) {
        const T* x0 = X + i * S;
        const T* x1 = x0 + S;
        V a0[QB], a1[QB];
        for (int q = 0; q < QB; ++q) a0[q] = a1[q] = V{};
        if (nq == QB) {
          for (int64_t p = 0; p < S; p += L) {
            const V u0 = vload<V>(x0 + p), u1 = vload<V>(x1 + p);
#pragma GCC unroll 8
            for (int q = 0; q < QB; ++q) {
              const V y = vload<V>(Yq + q * S + p);
              a0[q] += u0 * y;
              a1[q] += u1 * y;
            }
          }
        } else {
          for (int64_t p = 0; p < S; p += L) {
            const V u0 = vload<V>(x0 + p), u1 = vload<V>(x1 + p);
            for (int64_t q = 0; q < nq; ++q) {
              const V y = vload<V>(Yq + q * S + p);
              a0[q] += u0 * y;
              a1[q] += u1 * y;
            }
          }
        }
        for (int64_t q = 0; q < nq; ++q) {
          out[i * r + q0 + q] += hsum(a0[q]);
          out[(i + 1) * r + q0 + q] += hsum(a1[q]);
        }
      }
      for (; i < n; ++i) {
        const T* x = X + i * S;
        V acc[QB];
        for (int q = 0; q < QB; ++q) acc[q] = V{};
        for (int64_t p = 0; p < S; p += L) {
          const V u = vload<V>(x + p);
          for (int64_t q = 0; q < nq; ++q) acc[q] += u * vload<V>(Yq + q * S + p);
        }
        for (int64_t q = 0; q < nq; ++q) out[i * r + q0 + q] += hsum(acc[q]);
      }
    }
  }

  // U (C, r), Vt = Vᵀ (C, r); y (B, C, S), D (B, r, S)
  static void fwd(const T* h, T* y, T* D, const T* U, const T* Vt, int64_t B, int64_t C, int64_t S, int64_t r,
                  int nthreads) {
    const int64_t rp = (r + QB - 1) / QB * QB;
    T* Up = StageTail<T>::padded(U, C, r, rp);
    const bool par = nthreads > 1 && B > 1 && B * C * S >= kParallelMin;
#pragma omp parallel num_threads(nthreads) if (par)
    {
      T* Dl = new T[rp * S]();
#pragma omp for schedule(static)
      for (int64_t b = 0; b < B; ++b) {
        T* yb = y + b * C * S;
        std::memcpy(yb, h + b * C * S, sizeof(T) * C * S);
        mix(yb, S, Up, Vt, C, r, rp, Dl);
        std::memcpy(D + b * r * S, Dl, sizeof(T) * r * S);
      }
      delete[] Dl;
    }
    delete[] Up;
  }

  // gh may be null (no input gradient); gU (C, r) and gV (r, C) are written (double)
  static void bwd(const T* h, const T* g, const T* D, T* gh, double* gU, double* gV, const T* U, const T* Vt,
                  int64_t B, int64_t C, int64_t S, int64_t r, int nthreads) {
    const int64_t rp = (r + QB - 1) / QB * QB;
    T* Vp = StageTail<T>::padded(Vt, C, r, rp);  // E = V g: the down-projection of the backward is Vᵀ's columns
    std::memset(gU, 0, sizeof(double) * C * r);
    std::memset(gV, 0, sizeof(double) * r * C);
    const bool par = nthreads > 1 && B > 1 && B * C * S >= kParallelMin;
#pragma omp parallel num_threads(nthreads) if (par)
    {
      T* El = new T[rp * S]();
      T* Gl = gh ? nullptr : new T[C * S];  // without gh, the update runs on a scratch copy
      double* tU = new double[C * r]();
      double* gVt = new double[C * r]();  // gVᵀ (C, r): rows of g against rows of D
#pragma omp for schedule(static)
      for (int64_t b = 0; b < B; ++b) {
        const T* gb = g + b * C * S;
        rowdots(gb, C, D + b * r * S, r, S, gVt);
        T* ghb = gh ? gh + b * C * S : Gl;
        std::memcpy(ghb, gb, sizeof(T) * C * S);
        mix(ghb, S, Vp, U, C, r, rp, El);  // El = V g; ghb = g + U El
        rowdots(h + b * C * S, C, El, r, S, tU);
      }
#pragma omp critical
      {
        for (int64_t i = 0; i < C * r; ++i) gU[i] += tU[i];
        for (int64_t c = 0; c < C; ++c)
          for (int64_t q = 0; q < r; ++q) gV[q * C + c] += gVt[c * r + q];
      }
      delete[] El;
      delete[] Gl;
      delete[] tU;
      delete[] gVt;
    }
    delete[] Vp;
  }
};


// ---- A frozen stage's fixed 3x3 conv in its own structure: a depthwise filter bank, then a WHT ---------
// over the channels, of which the first w outputs are kept. The dense (w, C, 3, 3) form of that map
// makes 18wC FLOPs a pixel; the structure makes 18CK + n2 log2 n2 (K filters a channel, n2 the WHT's
// width after folding): the first n2 = next_pow2(w) outputs of a Sylvester WHT of width N are the
// width-n2 WHT of the input folded to n2 (x[p] + x[p + n2] + ...), so bank output c K + j adds into
// s[(c K + j) mod n2] and only the width-n2 butterflies follow. Vectors run over pixels: a task is a
// block of output rows of one image, its input rows copied into a zero-bordered buffer, so the 9 taps
// of every lane are constant offsets (each row carries 2 border lanes that are computed and dropped).
// Taps f (K, 9) come pre-scaled (1/sqrt N) and, for the input gradient, pre-flipped: the gradient is
// the same correlation over the WHT of the padded incoming gradient, gathered back to the channels.
template <typename T> struct BankWHT {
  typedef typename Vec<T>::type V;
  static constexpr int L = Vec<T>::W;

  // The unnormalized WHT over n vectors, R = 8, 4 or 2 butterfly levels a pass (registers between
  // levels: 3 levels cost one load and one store a vector, not three). The levels are Kronecker
  // factors on different index bits, so any grouping gives the same transform.
  template <int R>
  static inline void radix_pass(V* s, int64_t n, int64_t h) {
    for (int64_t i = 0; i < n; i += R * h)
      for (int64_t j = i; j < i + h; ++j) {
        V a[R];
#pragma GCC unroll 8
        for (int k = 0; k < R; ++k) a[k] = s[j + k * h];
#pragma GCC unroll 8
        for (int d = 1; d < R; d <<= 1)
#pragma GCC unroll 8
          for (int k = 0; k < R; ++k)
            if (!(k & d)) {
              const V u = a[k], v = a[k + d];
              a[k] = u + v;
              a[k + d] = u - v;
            }
#pragma GCC unroll 8
        for (int k = 0; k < R; ++k) s[j + k * h] = a[k];
      }
  }
  static inline void butterflies(V* s, int64_t n) {
    int64_t h = 1;
    while (h < n) {
      const int64_t rest = n / h;
      if (rest >= 8) radix_pass<8>(s, n, h), h *= 8;
      else if (rest >= 4) radix_pass<4>(s, n, h), h *= 4;
      else radix_pass<2>(s, n, h), h *= 2;
    }
  }

  // A short row copied inline (rows here are 7-32 numbers: a libc memcpy call per row cost as
  // much as the row's arithmetic)
  static inline void copy_row(T* dst, const T* src, int64_t n) {
    int64_t i = 0;
    for (; i + L <= n; i += L) vstore(dst + i, vload<V>(src + i));
    for (; i < n; ++i) dst[i] = src[i];
  }

  // The 9 taps of plane P (row stride Wp) at lanes q0.., and one filter's correlation with them:
  // forward, every filter j of channel c adds into s[(c K + j) mod n2]; backward, channel c's
  // gradient sums filter j's correlation with plane (c K + j) mod n2 over j.
  static inline void taps9(const T* P, int64_t Wp, int64_t q0, V X[9]) {
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t) X[t] = vload<V>(P + q0 + (t / 3) * Wp + t % 3);
  }
  static inline V dot9(const T* f, const V X[9]) {
    V a = X[0] * f[0], b = X[1] * f[1], c = X[2] * f[2];
    a += X[3] * f[3]; b += X[4] * f[4]; c += X[5] * f[5];
    a += X[6] * f[6]; b += X[7] * f[7]; c += X[8] * f[8];
    return a + b + c;
  }

  // Rows a task covers: its output staging (w x R rows) about 64 KB, and at least 2 tasks a thread.
  static int64_t rows_per_task(int64_t B, int64_t H, int64_t Wp, int64_t w, int nthreads) {
    int64_t R = (16384 / (w * Wp > 0 ? w * Wp : 1));
    R = R < 1 ? 1 : (R > H ? H : R);
    while (R > 1 && B * ((H + R - 1) / R) < 2 * nthreads) R = (R + 1) / 2;
    return R;
  }

  // x (B, C, H, W) -> y (B, w, H, W)
  static void fwd(const T* x, T* y, const T* f, int64_t B, int64_t C, int64_t H, int64_t W, int64_t K,
                  int64_t n2, int64_t w, int nthreads) {
    if (B == 0 || H == 0 || W == 0) return;
    const int64_t Wp = W + 2;
    const int64_t R = rows_per_task(B, H, Wp, w, nthreads);
    const int64_t nblk = (H + R - 1) / R, tasks = B * nblk;
    const int64_t plane = (R + 2) * Wp;
    const int64_t nq = (R * Wp + L - 1) / L * L;
    const bool par = nthreads > 1 && tasks > 1 && B * C * H * W >= kParallelMin / 4;
#pragma omp parallel num_threads(nthreads) if (par)
    {
      T* P = new T[C * plane + 2 * L]();
      T* O = new T[w * nq];
      V* s = new V[n2];
#pragma omp for schedule(static)
      for (int64_t task = 0; task < tasks; ++task) {
        const int64_t b = task / nblk, y0 = (task % nblk) * R;
        const int64_t rn = H - y0 < R ? H - y0 : R;
        for (int64_t c = 0; c < C; ++c) {
          const T* xc = x + (b * C + c) * H * W;
          for (int64_t rr = 0; rr < rn + 2; ++rr) {
            T* d = P + c * plane + rr * Wp;
            const int64_t yy = y0 - 1 + rr;
            d[0] = d[W + 1] = 0;
            if (yy >= 0 && yy < H) copy_row(d + 1, xc + yy * W, W);
            else std::memset(d + 1, 0, sizeof(T) * W);
          }
        }
        for (int64_t q0 = 0; q0 < rn * Wp; q0 += L) {
          for (int64_t p = 0; p < n2; ++p) s[p] = V{};
          for (int64_t c = 0; c < C; ++c) {
            V X[9];
            taps9(P + c * plane, Wp, q0, X);
            int64_t p = (c * K) & (n2 - 1);
            for (int64_t j = 0; j < K; ++j) {
              s[p] += dot9(f + 9 * j, X);
              p = (p + 1) & (n2 - 1);
            }
          }
          butterflies(s, n2);
          for (int64_t o = 0; o < w; ++o) vstore(O + o * nq + q0, s[o]);
        }
        for (int64_t o = 0; o < w; ++o)
          for (int64_t rr = 0; rr < rn; ++rr)
            copy_row(y + ((b * w + o) * H + y0 + rr) * W, O + o * nq + rr * Wp, W);
      }
      delete[] P;
      delete[] O;
      delete[] s;
    }
  }

  // g (B, w, H, W) -> gx (B, C, H, W); f: the taps flipped (f[j][8 - t])
  static void bwd(const T* g, T* gx, const T* f, int64_t B, int64_t C, int64_t H, int64_t W, int64_t K,
                  int64_t n2, int64_t w, int nthreads) {
    if (B == 0 || H == 0 || W == 0) return;
    const int64_t Wp = W + 2, S = H * W;
    const int64_t Sp = (S + L - 1) / L * L;
    const int64_t plane = (H + 2) * Wp;
    const int64_t nq = (H * Wp + L - 1) / L * L;
    const bool par = nthreads > 1 && B > 1 && B * C * H * W >= kParallelMin / 4;
#pragma omp parallel num_threads(nthreads) if (par)
    {
      T* G = new T[n2 * Sp];  // the WHT of the zero-padded gradient, (n2, S)
      T* P = new T[n2 * plane + 2 * L]();  // the same, zero-bordered rows; borders stay 0
      T* O = new T[nq];
      V* s = new V[n2];
      T tail[L];
#pragma omp for schedule(static)
      for (int64_t b = 0; b < B; ++b) {
        const T* gb = g + b * w * S;
        for (int64_t q0 = 0; q0 < S; q0 += L) {
          if (q0 + L <= S) {
            for (int64_t o = 0; o < w; ++o) s[o] = vload<V>(gb + o * S + q0);
          } else {
            for (int64_t o = 0; o < w; ++o) {
              std::memset(tail, 0, sizeof(tail));
              std::memcpy(tail, gb + o * S + q0, sizeof(T) * (S - q0));
              s[o] = vload<V>(tail);
            }
          }
          for (int64_t o = w; o < n2; ++o) s[o] = V{};
          butterflies(s, n2);
          for (int64_t p = 0; p < n2; ++p) vstore(G + p * Sp + q0, s[p]);
        }
        for (int64_t p = 0; p < n2; ++p)
          for (int64_t r = 0; r < H; ++r) copy_row(P + p * plane + (r + 1) * Wp + 1, G + p * Sp + r * W, W);
        for (int64_t c = 0; c < C; ++c) {
          for (int64_t q0 = 0; q0 < H * Wp; q0 += L) {
            V acc = V{};
            int64_t p = (c * K) & (n2 - 1);
            for (int64_t j = 0; j < K; ++j) {
              V X[9];
              taps9(P + p * plane, Wp, q0, X);
              acc += dot9(f + 9 * j, X);
              p = (p + 1) & (n2 - 1);
            }
            vstore(O + q0, acc);
          }
          T* gc = gx + (b * C + c) * S;
          for (int64_t r = 0; r < H; ++r) copy_row(gc + r * W, O + r * Wp, W);
        }
      }
      delete[] G;
      delete[] P;
      delete[] O;
      delete[] s;
    }
  }
};


// ---- A frozen MLP block at evaluation: y = PAct(s * WHT(x) + t) per row, one call -----------------
// The WHT row by row (Kern::row, in cache), then the per-channel affine and bi-slope in place while
// the row is still in cache. At batch 1 a block was three calls (transform, norm, PAct) whose fixed
// costs are most of its time; here it is one.
template <typename T> struct WHTBlock {
  static void fwd(const T* x, T* y, const T* s, const T* t, const T* a, const T* b, const T* c, int64_t rows,
                  int64_t n, T scale, int nthreads) {
    const bool par = nthreads > 1 && rows > 1 && rows * n >= kParallelMin;
#pragma omp parallel for schedule(static) num_threads(nthreads) if (par)
    for (int64_t r = 0; r < rows; ++r) {
      T* yr = y + r * n;
      Kern<T>::row(x + r * n, yr, n, scale);
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const T v = yr[i] * s[i] + t[i];
        yr[i] = (v > 0 ? a[i] : b[i]) * v + c[i];
      }
    }
  }
};

}  // namespace

#define FB_EXPORT extern "C" __attribute__((visibility("default")))

FB_EXPORT int fb_abi_version() { return FB_ABI_VERSION; }
FB_EXPORT int fb_vector_bytes() { return FB_VBYTES; }

#define FB_DEFINE(SUF, T)                                                                          \
  FB_EXPORT void fb_wht_##SUF(const T* src, T* dst, int64_t rows, int64_t n, double scale, int nt) { \
    Kern<T>::wht(src, dst, rows, n, (T)scale, nt);                                                 \
  }                                                                                                \
  FB_EXPORT void fb_dct_pre_##SUF(const T* x, T* v, int64_t rows, int64_t n, int nt) {             \
    Kern<T>::dct_pre(x, v, rows, n, nt);                                                           \
  }                                                                                                \
  FB_EXPORT void fb_dct_post_##SUF(const T* V, T* y, const T* C, const T* S, int64_t rows,         \
                                   int64_t n, int nt) {                                            \
    Kern<T>::dct_post(V, y, C, S, rows, n, nt);                                                    \
  }                                                                                                \
  FB_EXPORT void fb_dct3_pre_##SUF(const T* y, T* V, const T* IC, const T* IS, int64_t rows,       \
                                   int64_t n, int nt) {                                            \
    Kern<T>::dct3_pre(y, V, IC, IS, rows, n, nt);                                                  \
  }                                                                                                \
  FB_EXPORT void fb_dct3_post_##SUF(const T* v, T* x, int64_t rows, int64_t n, int nt) {           \
    Kern<T>::dct3_post(v, x, rows, n, nt);                                                         \
  }                                                                                                \
  FB_EXPORT void fb_fft_pack_##SUF(const T* X, T* y, int64_t rows, int64_t n, double s, int nt) {  \
    Kern<T>::fft_pack(X, y, rows, n, (T)s, nt);                                                    \
  }                                                                                                \
  FB_EXPORT void fb_fft_unpack_##SUF(const T* y, T* X, int64_t rows, int64_t n, double s, int nt) { \
    Kern<T>::fft_unpack(y, X, rows, n, (T)s, nt);                                                  \
  } \
  FB_EXPORT void fb_fft_split_pack_##SUF(const T* Z, T* y, const T* P, const T* Q, int64_t rows,   \
                                         int64_t n, double h, double s0, int nt) {                \
    Kern<T>::fft_split_pack(Z, y, P, Q, rows, n, (T)h, (T)s0, nt);                                 \
  }                                                                                                \
  FB_EXPORT void fb_fft_unsplit_unpack_##SUF(const T* y, T* Z, const T* Cw, const T* Sw,           \
                                             int64_t rows, int64_t n, double g0, double g, int nt) { \
    Kern<T>::fft_unsplit_unpack(y, Z, Cw, Sw, rows, n, (T)g0, (T)g, nt);                           \
  }                                                                                                \
  FB_EXPORT void fb_dct_split_post_##SUF(const T* Z, T* y, const T* Hr, const T* Hi, const T* C,   \
                                         const T* S, int64_t rows, int64_t n, int nt) {            \
    Kern<T>::dct_split_post(Z, y, Hr, Hi, C, S, rows, n, nt);                                      \
  }                                                                                                \
  FB_EXPORT void fb_dct3_unsplit_pre_##SUF(const T* y, T* Z, const T* IC, const T* IS,             \
                                           const T* Cw, const T* Sw, int64_t rows, int64_t n,      \
                                           int nt) {                                               \
    Kern<T>::dct3_unsplit_pre(y, Z, IC, IS, Cw, Sw, rows, n, nt);                                  \
  }                                                                                                \
  FB_EXPORT void fb_bislope_fwd_##SUF(const T* x, T* y, const T* a, const T* b, const T* c,        \
                                      int64_t B, int64_t C, int64_t S, int nt) {                   \
    PAct<T>::fwd(x, y, a, b, c, B, C, S, nt);                                                      \
  }                                                                                                \
  FB_EXPORT void fb_bislope_bwd_##SUF(const T* x, const T* g, T* gx, const T* a, const T* b,       \
                                      double* sums, int64_t B, int64_t C, int64_t S, int nt) {     \
    PAct<T>::bwd(x, g, gx, a, b, sums, B, C, S, nt);                                               \
  }                                                                                                \
  FB_EXPORT void fb_maxpool2_fwd_##SUF(const T* x, T* y, int64_t P, int64_t H, int64_t W, int nt) { \
    Pool<T>::fwd(x, y, P, H, W, nt);                                                               \
  }                                                                                                \
  FB_EXPORT void fb_maxpool2_bwd_##SUF(const T* x, const T* g, T* gx, int64_t P, int64_t H,        \
                                       int64_t W, int nt) {                                        \
    Pool<T>::bwd(x, g, gx, P, H, W, nt);                                                           \
  }                                                                                                \
  FB_EXPORT void fb_bnact_stats_##SUF(const T* x, double* mean, double* var, int64_t B, int64_t C, \
                                      int64_t S, int nt) {                                         \
    BNAct<T>::stats(x, mean, var, B, C, S, nt);                                                    \
  }                                                                                                \
  FB_EXPORT void fb_bnact_fwd_##SUF(const T* x, T* y, const double* mean, const double* inv,       \
                                    const T* g, const T* be, const T* a, const T* b, const T* c,   \
                                    int64_t B, int64_t C, int64_t S, int nt) {                     \
    BNAct<T>::fwd(x, y, mean, inv, g, be, a, b, c, B, C, S, nt);                                   \
  }                                                                                                \
  FB_EXPORT void fb_bnact_bwd_##SUF(const T* x, const T* gr, T* gx, const double* mean,            \
                                    const double* inv, const T* g, const T* be, const T* a,        \
                                    const T* b, double* sums, int64_t B, int64_t C, int64_t S,     \
                                    int nt) {                                                      \
    BNAct<T>::bwd(x, gr, gx, mean, inv, g, be, a, b, sums, B, C, S, nt);                           \
  }                                                                                                \
  FB_EXPORT void fb_stage_tail_##SUF(const T* z, T* y, const T* s, const T* t, const T* a,         \
                                     const T* b, const T* c, const T* U, const T* Vt, int64_t B,   \
                                     int64_t C, int64_t H, int64_t W, int64_t r, int nt) {         \
    StageTail<T>::fwd(z, y, s, t, a, b, c, U, Vt, B, C, H, W, r, nt);                              \
  }                                                                                                \
  FB_EXPORT void fb_lora_fwd_##SUF(const T* h, T* y, T* D, const T* U, const T* Vt, int64_t B,     \
                                   int64_t C, int64_t S, int64_t r, int nt) {                      \
    LoRAMap<T>::fwd(h, y, D, U, Vt, B, C, S, r, nt);                                               \
  }                                                                                                \
  FB_EXPORT void fb_bankwht_fwd_##SUF(const T* x, T* y, const T* f, int64_t B, int64_t C, int64_t H, \
                                     int64_t W, int64_t K, int64_t n2, int64_t w, int nt) {        \
    BankWHT<T>::fwd(x, y, f, B, C, H, W, K, n2, w, nt);                                            \
  }                                                                                                \
  FB_EXPORT void fb_bankwht_bwd_##SUF(const T* g, T* gx, const T* f, int64_t B, int64_t C, int64_t H, \
                                     int64_t W, int64_t K, int64_t n2, int64_t w, int nt) {        \
    BankWHT<T>::bwd(g, gx, f, B, C, H, W, K, n2, w, nt);                                           \
  }                                                                                                \
  FB_EXPORT void fb_wht_block_##SUF(const T* x, T* y, const T* s, const T* t, const T* a, const T* b, \
                                   const T* c, int64_t rows, int64_t n, double scale, int nt) {    \
    WHTBlock<T>::fwd(x, y, s, t, a, b, c, rows, n, (T)scale, nt);                                  \
  }                                                                                                \
  FB_EXPORT void fb_lora_bwd_##SUF(const T* h, const T* g, const T* D, T* gh, double* gU,          \
                                   double* gV, const T* U, const T* Vt, int64_t B, int64_t C,      \
                                   int64_t S, int64_t r, int nt) {                                 \
    LoRAMap<T>::bwd(h, g, D, gh, gU, gV, U, Vt, B, C, S, r, nt);                                   \
  }

FB_DEFINE(f32, float)
FB_DEFINE(f64, double)
