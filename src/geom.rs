//! Plane geometry: points, homographies (template mm → image px) and their fitting from point pairs.

use serde::{Deserialize, Serialize};

/// A 2-D point (mm or px, by context).
pub type Pt = [f64; 2];

/// A 3×3 projective transform, row-major, mapping `[x, y, 1]` column vectors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Homography(pub [[f64; 3]; 3]);

impl Homography {
    /// The identity transform.
    pub fn identity() -> Self {
        Homography([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    }

    /// Uniform scale.
    pub fn scale(s: f64) -> Self {
        Homography([[s, 0.0, 0.0], [0.0, s, 0.0], [0.0, 0.0, 1.0]])
    }

    /// Translation.
    pub fn translate(dx: f64, dy: f64) -> Self {
        Homography([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])
    }

    /// Counter-clockwise rotation by `deg` degrees in a y-down frame (i.e. visually clockwise for positive).
    pub fn rotate_deg(deg: f64) -> Self {
        let (s, c) = deg.to_radians().sin_cos();
        Homography([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    }

    /// `self ∘ other`: apply `other` first, then `self`.
    pub fn then_after(&self, other: &Homography) -> Homography {
        let a = &self.0;
        let b = &other.0;
        let mut m = [[0.0; 3]; 3];
        for (i, row) in m.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
            }
        }
        Homography(m)
    }

    /// Maps a point.
    #[inline]
    pub fn apply(&self, p: Pt) -> Pt {
        let m = &self.0;
        let w = m[2][0] * p[0] + m[2][1] * p[1] + m[2][2];
        [
            (m[0][0] * p[0] + m[0][1] * p[1] + m[0][2]) / w,
            (m[1][0] * p[0] + m[1][1] * p[1] + m[1][2]) / w,
        ]
    }

    /// The inverse transform, if the matrix is not singular.
    pub fn inverse(&self) -> Option<Homography> {
        let m = &self.0;
        let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
        if det.abs() < 1e-12 {
            return None;
        }
        let inv = [
            [
                (m[1][1] * m[2][2] - m[1][2] * m[2][1]) / det,
                (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det,
                (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det,
            ],
            [
                (m[1][2] * m[2][0] - m[1][0] * m[2][2]) / det,
                (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det,
                (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det,
            ],
            [
                (m[1][0] * m[2][1] - m[1][1] * m[2][0]) / det,
                (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det,
                (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det,
            ],
        ];
        Some(Homography(inv))
    }

    /// The Jacobian at a point, by central differences: the images of the unit x and y steps.
    fn jacobian(&self, p: Pt) -> [[f64; 2]; 2] {
        let e = 0.5;
        let a = self.apply([p[0] - e, p[1]]);
        let b = self.apply([p[0] + e, p[1]]);
        let c = self.apply([p[0], p[1] - e]);
        let d = self.apply([p[0], p[1] + e]);
        [
            [(b[0] - a[0]) / (2.0 * e), (b[1] - a[1]) / (2.0 * e)],
            [(d[0] - c[0]) / (2.0 * e), (d[1] - c[1]) / (2.0 * e)],
        ]
    }

    /// Local scale (px per mm) at a point: square root of the Jacobian determinant.
    pub fn local_scale(&self, p: Pt) -> f64 {
        let [jx, jy] = self.jacobian(p);
        (jx[0] * jy[1] - jx[1] * jy[0]).abs().sqrt()
    }

    /// The smallest local scale (px per mm) at a point, over all directions: the smaller singular value of the
    /// Jacobian. A page scanned coarser one way than the other is as fine as its coarser axis.
    pub fn min_local_scale(&self, p: Pt) -> f64 {
        let [jx, jy] = self.jacobian(p);
        // Singular values from the eigenvalues of JᵀJ.
        let (p2, q2, r) = (
            jx[0] * jx[0] + jx[1] * jx[1],
            jy[0] * jy[0] + jy[1] * jy[1],
            jx[0] * jy[0] + jx[1] * jy[1],
        );
        let mean = 0.5 * (p2 + q2);
        let spread = (0.25 * (p2 - q2) * (p2 - q2) + r * r).sqrt();
        (mean - spread).max(0.0).sqrt()
    }

    /// Exact homography from four point pairs (`src[i] → dst[i]`), by solving the 8×8 DLT system.
    pub fn from_4(src: &[Pt; 4], dst: &[Pt; 4]) -> Option<Homography> {
        let mut a = [[0.0f64; 9]; 8];
        for i in 0..4 {
            let [x, y] = src[i];
            let [u, v] = dst[i];
            a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
            a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
        }
        let h = solve8(a)?;
        Some(Homography([
            [h[0], h[1], h[2]],
            [h[3], h[4], h[5]],
            [h[6], h[7], 1.0],
        ]))
    }

    /// Exact affine transform from three point pairs.
    pub fn affine_from_3(src: &[Pt; 3], dst: &[Pt; 3]) -> Option<Homography> {
        // Solve [x y 1] * [a b c]^T = u for each output coordinate.
        let m = [
            [src[0][0], src[0][1], 1.0],
            [src[1][0], src[1][1], 1.0],
            [src[2][0], src[2][1], 1.0],
        ];
        let inv = Homography(m).inverse()?;
        let col = |k: usize| -> [f64; 3] {
            let r = [dst[0][k], dst[1][k], dst[2][k]];
            [
                inv.0[0][0] * r[0] + inv.0[0][1] * r[1] + inv.0[0][2] * r[2],
                inv.0[1][0] * r[0] + inv.0[1][1] * r[1] + inv.0[1][2] * r[2],
                inv.0[2][0] * r[0] + inv.0[2][1] * r[1] + inv.0[2][2] * r[2],
            ]
        };
        let a = col(0);
        let b = col(1);
        Some(Homography([a, b, [0.0, 0.0, 1.0]]))
    }

    /// The similarity (rotation, uniform scale, translation) taking `src[0]` to `dst[0]` and `src[1]` to
    /// `dst[1]`; `None` when the source points coincide.
    pub fn similarity_from_2(src: &[Pt; 2], dst: &[Pt; 2]) -> Option<Homography> {
        let (sx, sy) = (src[1][0] - src[0][0], src[1][1] - src[0][1]);
        let (dx, dy) = (dst[1][0] - dst[0][0], dst[1][1] - dst[0][1]);
        let n = sx * sx + sy * sy;
        if n < 1e-12 {
            return None;
        }
        // Complex division (dx + i dy) / (sx + i sy) = a + i b: the scaled rotation.
        let a = (dx * sx + dy * sy) / n;
        let b = (dy * sx - dx * sy) / n;
        let tx = dst[0][0] - (a * src[0][0] - b * src[0][1]);
        let ty = dst[0][1] - (b * src[0][0] + a * src[0][1]);
        Some(Homography([[a, -b, tx], [b, a, ty], [0.0, 0.0, 1.0]]))
    }

    /// Least-squares affine fit from ≥3 point pairs.
    pub fn affine_lsq(src: &[Pt], dst: &[Pt]) -> Option<Homography> {
        if src.len() < 3 || src.len() != dst.len() {
            return None;
        }
        // Normal equations for [x y 1] parameters, solved per output coordinate.
        let mut ata = [[0.0; 3]; 3];
        let mut atu = [0.0; 3];
        let mut atv = [0.0; 3];
        for (s, d) in src.iter().zip(dst) {
            let r = [s[0], s[1], 1.0];
            for i in 0..3 {
                for j in 0..3 {
                    ata[i][j] += r[i] * r[j];
                }
                atu[i] += r[i] * d[0];
                atv[i] += r[i] * d[1];
            }
        }
        let inv = Homography(ata).inverse()?;
        let mul = |v: [f64; 3]| -> [f64; 3] {
            let m = &inv.0;
            [
                m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
                m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
                m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
            ]
        };
        Some(Homography([mul(atu), mul(atv), [0.0, 0.0, 1.0]]))
    }

    /// A small projective correction `c` (near the identity) fitted by least squares to one-dimensional
    /// offsets: each `(p, o)` of `along_x` says that the point `p` belongs at `p + (o, 0)`, each of `along_y`
    /// at `p + (0, o)` (a vertical rule seen only across x, a horizontal one only across y). The model is
    /// linearised around the identity in coordinates centred on `centre` and divided by `scale`, which keeps
    /// the normal equations well conditioned. `None` when the probes do not fix all eight parameters.
    pub fn correction_lsq(
        along_x: &[(Pt, f64)],
        along_y: &[(Pt, f64)],
        centre: Pt,
        scale: f64,
    ) -> Option<Homography> {
        let mut m = [[0.0f64; 9]; 8];
        let mut add = |row: [f64; 8], b: f64| {
            for i in 0..8 {
                for j in 0..8 {
                    m[i][j] += row[i] * row[j];
                }
                m[i][8] += row[i] * b;
            }
        };
        let norm = |p: Pt| ((p[0] - centre[0]) / scale, (p[1] - centre[1]) / scale);
        for &(p, o) in along_x {
            let (u, v) = norm(p);
            add([u, v, 1.0, 0.0, 0.0, 0.0, -u * u, -u * v], o / scale);
        }
        for &(p, o) in along_y {
            let (u, v) = norm(p);
            add([0.0, 0.0, 0.0, u, v, 1.0, -u * v, -v * v], o / scale);
        }
        let k = solve8(m)?;
        let c = Homography([
            [1.0 + k[0], k[1], k[2]],
            [k[3], 1.0 + k[4], k[5]],
            [k[6], k[7], 1.0],
        ]);
        let t = Homography([
            [1.0 / scale, 0.0, -centre[0] / scale],
            [0.0, 1.0 / scale, -centre[1] / scale],
            [0.0, 0.0, 1.0],
        ]);
        Some(t.inverse()?.then_after(&c).then_after(&t))
    }

    /// Row-major `f32` matrix, as imageproc's `Projection::from_matrix` expects.
    pub fn to_f32(&self) -> [f32; 9] {
        let m = &self.0;
        [
            m[0][0] as f32,
            m[0][1] as f32,
            m[0][2] as f32,
            m[1][0] as f32,
            m[1][1] as f32,
            m[1][2] as f32,
            m[2][0] as f32,
            m[2][1] as f32,
            m[2][2] as f32,
        ]
    }
}

/// Gaussian elimination with partial pivoting on an 8×9 augmented matrix.
fn solve8(mut a: [[f64; 9]; 8]) -> Option<[f64; 8]> {
    for col in 0..8 {
        let piv = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        for row in 0..8 {
            if row != col {
                let f = a[row][col] / a[col][col];
                let pivot_row = a[col];
                for (v, p) in a[row].iter_mut().zip(pivot_row.iter()).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    let mut x = [0.0; 8];
    for i in 0..8 {
        x[i] = a[i][8] / a[i][i];
    }
    Some(x)
}

/// Euclidean distance.
#[inline]
pub fn dist(a: Pt, b: Pt) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correction_lsq_recovers_a_small_keystone_from_one_dimensional_offsets() {
        let truth = Homography([
            [1.01, 0.004, 0.6],
            [-0.003, 0.995, -0.4],
            [2e-5, -3e-5, 1.0],
        ]);
        let (mut xs, mut ys) = (vec![], vec![]);
        for i in 0..8 {
            for j in 0..8 {
                let p = [20.0 + 24.0 * i as f64, 60.0 + 22.0 * j as f64];
                let q = truth.apply(p);
                xs.push((p, q[0] - p[0]));
                ys.push((p, q[1] - p[1]));
            }
        }
        let c = Homography::correction_lsq(&xs, &ys, [105.0, 148.5], 100.0).unwrap();
        for p in [
            [20.0, 60.0],
            [188.0, 60.0],
            [20.0, 230.0],
            [188.0, 230.0],
            [100.0, 50.0],
        ] {
            // Linearised: close to the truth, far closer than the 1-2 mm the keystone moves the corners.
            assert!(dist(c.apply(p), truth.apply(p)) < 0.1, "{p:?}");
            assert!(dist(truth.apply(p), p) > 0.5, "{p:?}");
        }
    }

    #[test]
    fn min_local_scale_is_the_coarser_axis() {
        // 8 px/mm across, 3.9 px/mm down, then turned by 30°: the coarser axis is what a code is read at.
        let stretch = Homography([[8.0, 0.0, 0.0], [0.0, 3.9, 0.0], [0.0, 0.0, 1.0]]);
        let h = stretch.then_after(&Homography::rotate_deg(30.0));
        assert!((h.min_local_scale([50.0, 80.0]) - 3.9).abs() < 1e-6);
        assert!((Homography::scale(7.5).min_local_scale([10.0, 10.0]) - 7.5).abs() < 1e-9);
    }

    #[test]
    fn four_point_fit_reproduces_a_known_homography() {
        let h = Homography([[5.9, -0.26, 41.4], [0.26, 5.9, -15.0], [1e-5, -2e-5, 1.0]]);
        let src = [[14.0, 14.0], [196.0, 14.0], [14.0, 283.0], [196.0, 283.0]];
        let dst = src.map(|p| h.apply(p));
        let fit = Homography::from_4(&src, &dst).unwrap();
        for p in [[100.0, 100.0], [50.0, 250.0]] {
            assert!(dist(fit.apply(p), h.apply(p)) < 1e-6);
        }
        let back = fit.inverse().unwrap().apply(h.apply([70.0, 80.0]));
        assert!(dist(back, [70.0, 80.0]) < 1e-6);
    }

    #[test]
    fn affine_from_three_points_and_least_squares_agree() {
        let h = Homography([[2.0, 0.1, 5.0], [-0.1, 2.0, 7.0], [0.0, 0.0, 1.0]]);
        let src = [[0.0, 0.0], [10.0, 0.0], [0.0, 20.0]];
        let dst = src.map(|p| h.apply(p));
        let a = Homography::affine_from_3(&src, &dst).unwrap();
        let b = Homography::affine_lsq(&src, &dst).unwrap();
        assert!(dist(a.apply([3.0, 4.0]), h.apply([3.0, 4.0])) < 1e-9);
        assert!(dist(b.apply([3.0, 4.0]), h.apply([3.0, 4.0])) < 1e-9);
        assert!((h.local_scale([1.0, 1.0]) - (4.01f64).sqrt()).abs() < 1e-6);
    }

    #[test]
    fn similarity_from_two_points_maps_both_and_keeps_angles() {
        let h = Homography::translate(40.0, -7.0)
            .then_after(&Homography::rotate_deg(7.5))
            .then_after(&Homography::scale(11.8));
        let src = [[14.0, 14.0], [196.0, 283.0]];
        let got = Homography::similarity_from_2(&src, &src.map(|p| h.apply(p))).unwrap();
        for p in [[0.0, 0.0], [105.0, 148.5], [210.0, 297.0]] {
            assert!(dist(got.apply(p), h.apply(p)) < 1e-9);
        }
        assert!(Homography::similarity_from_2(&[src[0], src[0]], &[src[0], src[1]]).is_none());
    }
}
