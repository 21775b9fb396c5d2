#include "flowsense/loss/sensing_loss.hpp"

#include <atomic>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>

#include "flowsense/core/fused_residual.hpp"
#include "flowsense/core/packed.hpp"
#include "flowsense/core/worker_pool.hpp"
#include "flowsense/problem/normal_operator.hpp"
#include "flowsense/problem/packed_operator.hpp"

namespace flowsense {

namespace {

// The last residual computed on this thread, keyed by the loss and the exact
// factor. A GD loop with a training-error stop rule evaluates r(U) twice per
// step at the same U (the rule after the step, the gradient before the
// next), and NumPy loops compute it once; on the plain path r is half of a
// gradient's cost. A hit needs U equal bit for bit, so it returns exactly what
// recomputing would. Where the plain form is fused (core/fused_residual.hpp)
// the same pass over M also gives A*(r), kept here for the gradient: a GD
// step with a stop rule then reads M once.
struct ResidualMemo {
  std::uint64_t loss = 0;
  Matrix U;
  Vector r;
  bool has_adjoint = false;
  Vector g;  // vech(A*(r)), if has_adjoint
};
thread_local ResidualMemo residual_memo;

bool same_factor(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<std::size_t>(a.size())) == 0;
}

// The same for the normal form: x = vech(U U^T) and g = Q x - c at the last
// factor, on this thread. A GD loop with a training-error stop rule in the
// normal form then computes one product with Q per step: the rule's
// (training_error_below) after the step, reused by the gradient before the
// next.
struct NormalMemo {
  std::uint64_t loss = 0;
  Matrix U;
  Vector x, g;
};
thread_local NormalMemo normal_memo;

const NormalMemo& normal_residual_adjoint(std::uint64_t loss, const NormalOperator& q, const Matrix& U) {
  NormalMemo& memo = normal_memo;
  if (memo.loss == loss && same_factor(memo.U, U)) return memo;
  thread_local Matrix X;
  X.noalias() = U * U.transpose();
  memo.loss = 0;  // invalid until complete
  pack_symmetric(X, memo.x);
  q.residual_adjoint(memo.x, memo.g);
  memo.U = U;
  memo.loss = loss;
  return memo;
}

}  // namespace

// The normal form's state, shared by copies of a loss. `ready` is published
// once, after Q is complete; the hot path reads it with one atomic load.
// The choice is made once, at construction, so that a loss is one function
// for its whole life (a run is repeatable bit for bit); Q is built at the
// first evaluation that needs it.
struct SensingLoss::FormState {
  // Distinct for every loss that is not a copy of another (the residual memo's key).
  std::uint64_t id = next_id.fetch_add(1, std::memory_order_relaxed);
  static inline std::atomic<std::uint64_t> next_id{1};
  OperatorFormOptions options;
  const PackedOperator* packed = nullptr;  // null: no normal form exists
  KernelCost cost;
  bool use_normal = false;
  std::atomic<const NormalOperator*> ready{nullptr};
  std::unique_ptr<NormalOperator> owned;
  // The plain form's measurement-major copy of M (core/fused_residual.hpp):
  // decided at construction like Q, made at the first plain evaluation.
  bool use_fused = false;
  std::atomic<const FusedResidual*> fused_ready{nullptr};
  std::unique_ptr<FusedResidual> fused_owned;
  std::mutex mutex;
  // The workers of `threads` > 1 for a packed operator: the plain form's
  // products (core/block_gemv.hpp) and the normal form's share them, so a
  // run never has two pools spinning against each other.
  std::shared_ptr<WorkerPool> pool;

  const NormalOperator* build(const Vector& b) {
    std::lock_guard<std::mutex> lock(mutex);
    if (const NormalOperator* q = ready.load(std::memory_order_acquire)) return q;
    owned = std::make_unique<NormalOperator>(*packed, b, pool);
    ready.store(owned.get(), std::memory_order_release);
    return owned.get();
  }

  const FusedResidual* fused() {
    if (!use_fused) return nullptr;
    if (const FusedResidual* f = fused_ready.load(std::memory_order_acquire)) return f;
    std::lock_guard<std::mutex> lock(mutex);
    if (const FusedResidual* f = fused_ready.load(std::memory_order_acquire)) return f;
    fused_owned = std::make_unique<FusedResidual>(packed->packed_rows());
    fused_ready.store(fused_owned.get(), std::memory_order_release);
    return fused_owned.get();
  }

  /// r(U) = A(U U^T) - b in the plain form, on this thread's memo, with
  /// A*(r) where the fused form gives it in the same pass.
  const ResidualMemo& residual(const SensingOperator& op, const Vector& b, const Matrix& U) {
    ResidualMemo& memo = residual_memo;
    if (memo.loss == id && same_factor(memo.U, U)) return memo;
    memo.loss = 0;  // invalid until complete
    memo.has_adjoint = false;
    if (packed) {
      // As SensingOperator::apply_gram (packed operators do not override
      // it), with the products on the pool and no allocation.
      thread_local Matrix X;
      X.noalias() = U * U.transpose();
      if (const FusedResidual* f = fused()) {
        thread_local Vector x;
        pack_symmetric(X, x);
        f->compute(x, &b, memo.r, memo.g, pool.get());
        memo.has_adjoint = true;
      } else {
        packed->apply(X, memo.r, pool.get());
        memo.r -= b;
      }
    } else {
      op.apply_gram(U, memo.r);
      memo.r -= b;
    }
    memo.U = U;
    memo.loss = id;
    return memo;
  }

  /// S = A*(A(X) - b) for a symmetric X, or A*(A(X)) if b is null: one
  /// pass where fused, else A(X) and A*(.) as below.
  void residual_adjoint(const SensingOperator& op, const Matrix& X, const Vector* b, Matrix& S) {
    if (const FusedResidual* f = fused()) {
      thread_local Vector x, r, g;
      pack_symmetric(X, x);
      f->compute(x, b, r, g, pool.get());
      unpack_symmetric(g, op.dim(), S);
      return;
    }
    Vector r;
    apply(op, X, r);
    if (b) r -= *b;
    adjoint(op, r, S);
  }

  // A(X) and A*(y): a packed operator's products on the pool (the same bits
  // as op.apply() / op.adjoint(), core/block_gemv.hpp), others as they are.
  void apply(const SensingOperator& op, const Matrix& X, Vector& y) const {
    if (packed)
      packed->apply(X, y, pool.get());
    else
      op.apply(X, y);
  }
  void adjoint(const SensingOperator& op, const Vector& y, Matrix& S) const {
    if (packed)
      packed->adjoint(y, S, pool.get());
    else
      op.adjoint(y, S);
  }
  /// out = A*(y) U (packed: as SensingOperator::adjoint_times, which they
  /// do not override; structured operators keep their factor form).
  void adjoint_times(const SensingOperator& op, const Vector& y, const Matrix& U, Matrix& out) const {
    if (!packed) {
      op.adjoint_times(y, U, out);
      return;
    }
    thread_local Matrix S;
    packed->adjoint(y, S, pool.get());
    out.noalias() = S * U;
  }

  // A(X) and A*(y) U for callers outside the hot path's fused pass (the
  // preconditioner): from the measurement-major copy where the loss holds
  // one, which the run's gradients keep in cache, else as above.
  void apply_plain(const SensingOperator& op, const Matrix& X, Vector& y) {
    if (const FusedResidual* f = fused()) {
      thread_local Vector x;
      pack_symmetric(X, x);
      f->apply(x, y);
      return;
    }
    apply(op, X, y);
  }
  void adjoint_times_plain(const SensingOperator& op, const Vector& y, const Matrix& U, Matrix& out) {
    if (const FusedResidual* f = fused()) {
      thread_local Vector g;
      thread_local Matrix S;
      f->adjoint(y, g);
      unpack_symmetric(g, op.dim(), S);
      out.noalias() = S * U;
      return;
    }
    adjoint_times(op, y, U, out);
  }
};

SensingLoss::SensingLoss(std::shared_ptr<const SensingOperator> op, Vector b, double c, OperatorFormOptions form)
    : op_(std::move(op)), b_(std::move(b)), c_(c), form_(std::make_shared<FormState>()) {
  if (!op_) throw std::invalid_argument("SensingLoss: expected an operator, got null");
  if (!(c_ > 0)) throw std::invalid_argument("SensingLoss: expected c > 0, got " + std::to_string(c_));
  if (b_.size() != op_->measurements())
    throw std::invalid_argument("SensingLoss: expected b of length m = " +
                                std::to_string(op_->measurements()) + ", got " +
                                std::to_string(b_.size()));
  if (form.threads < 1)
    throw std::invalid_argument("SensingLoss: expected operator form threads >= 1, got " +
                                std::to_string(form.threads));
  if (!(form.expected_evaluations > 0))
    throw std::invalid_argument("SensingLoss: expected operator form expected_evaluations > 0, got " +
                                std::to_string(form.expected_evaluations));
  if (!(form.fused_memory_limit >= 0))
    throw std::invalid_argument("SensingLoss: expected operator form fused_memory_limit >= 0 bytes, got " +
                                std::to_string(form.fused_memory_limit));
  if (!(form.required_speedup >= 1))
    throw std::invalid_argument("SensingLoss: expected operator form required_speedup >= 1, got " +
                                std::to_string(form.required_speedup));
  form_->options = form;
  form_->packed = dynamic_cast<const PackedOperator*>(op_.get());
  if (form_->packed && form.threads > 1) form_->pool = WorkerPool::shared(form.threads);
  if (form.form == OperatorForm::normal && !form_->packed)
    throw std::invalid_argument("SensingLoss: operator_form \"normal\" needs a packed operator (gaussian or "
                                "matrices), got \"" + op_->name() + "\"");
  const bool fused_fits = form_->packed && 8.0 * static_cast<double>(op_->measurements()) *
                                                 static_cast<double>(packed_size(op_->dim())) <=
                                             form.fused_memory_limit;
  if (form_->packed)
    form_->cost = kernel_cost(op_->dim(), op_->measurements(), op_->dim(), form.machine,
                              form.expected_evaluations, form.required_speedup, fused_fits);
  form_->use_normal = form.form == OperatorForm::normal ||
                      (form.form == OperatorForm::automatic && form_->packed && form_->cost.normal_pays);
  form_->use_fused = fused_fits && !form_->use_normal;
}

const NormalOperator* SensingLoss::normal_form() const {
  FormState& f = *form_;
  if (const NormalOperator* q = f.ready.load(std::memory_order_acquire)) return q;
  return f.use_normal ? f.build(b_) : nullptr;
}

const OperatorFormOptions& SensingLoss::operator_form_options() const { return form_->options; }

WorkerPool* SensingLoss::worker_pool() const { return form_->pool.get(); }

std::string SensingLoss::operator_form_report() const {
  const FormState& f = *form_;
  if (!f.packed) return "plain (" + op_->name() + " operator has no normal form)";
  const std::string plain =
      f.use_fused ? "plain, one pass over a measurement-major copy of M" : "plain, two passes over M";
  if (f.options.form == OperatorForm::plain) return plain + " (forced)";
  if (f.options.form == OperatorForm::normal) return "normal (forced)";
  return (f.use_normal ? std::string("normal") : plain) + " (automatic; " + f.cost.describe() + ")";
}

void SensingLoss::residual(const Matrix& U, Vector& r) const { r = form_->residual(*op_, b_, U).r; }

Vector SensingLoss::residual(const Matrix& U) const {
  Vector r;
  residual(U, r);
  return r;
}

double SensingLoss::training_error(const Matrix& U) const { return residual(U).squaredNorm(); }

bool SensingLoss::training_error_below(const Matrix& U, double level) const {
  // Only once Q exists: a stop rule never builds it (nor counts towards it).
  if (const NormalOperator* q = form_->ready.load(std::memory_order_acquire)) {
    const NormalMemo& memo = normal_residual_adjoint(form_->id, *q, U);
    const auto e = q->training_error_estimate(memo.x, memo.g);
    if (e.value - e.bound >= level) return false;
    if (e.value + e.bound < level) return true;
  }
  return training_error(U) < level;
}

double SensingLoss::value(const Matrix& U) const { return 0.5 * c_ * training_error(U); }

double SensingLoss::value_and_gradient(const Matrix& U, Matrix& grad) const {
  const ResidualMemo& memo = form_->residual(*op_, b_, U);
  if (memo.has_adjoint) {
    thread_local Matrix S;
    unpack_symmetric(memo.g, op_->dim(), S);
    grad.noalias() = S * U;
  } else {
    form_->adjoint_times(*op_, memo.r, U, grad);
  }
  grad *= 2.0 * c_;
  return 0.5 * c_ * memo.r.squaredNorm();
}

void SensingLoss::gradient(const Matrix& U, Matrix& grad) const {
  if (const NormalOperator* q = normal_form()) {
    // The hot path of every flow and GD step in the normal form: per-thread
    // buffers, so that a step does not allocate.
    thread_local Matrix S;
    unpack_symmetric(normal_residual_adjoint(form_->id, *q, U).g, op_->dim(), S);
    grad.noalias() = (2.0 * c_) * (S * U);
    return;
  }
  value_and_gradient(U, grad);
}

void SensingLoss::residual_adjoint(const Matrix& U, Matrix& S) const {
  if (const NormalOperator* q = normal_form()) {
    unpack_symmetric(normal_residual_adjoint(form_->id, *q, U).g, op_->dim(), S);
    return;
  }
  const ResidualMemo& memo = form_->residual(*op_, b_, U);
  if (memo.has_adjoint)
    unpack_symmetric(memo.g, op_->dim(), S);
  else
    form_->adjoint(*op_, memo.r, S);
}

void SensingLoss::residual_adjoint_symmetric(const Matrix& X, Matrix& S) const {
  if (const NormalOperator* q = normal_form()) {
    q->residual_adjoint(X, S);
    return;
  }
  form_->residual_adjoint(*op_, X, &b_, S);
}

void SensingLoss::normal_apply(const Matrix& W, Matrix& S) const {
  if (const NormalOperator* q = normal_form()) {
    q->normal_apply(W, S);
    return;
  }
  form_->residual_adjoint(*op_, W, nullptr, S);
}

void SensingLoss::apply(const Matrix& X, Vector& y) const {
  const Index d = op_->dim();
  if (X.rows() != d || X.cols() != d)
    throw std::invalid_argument("SensingLoss::apply(): expected a symmetric " + std::to_string(d) + " x " +
                                std::to_string(d) + " X, got " + std::to_string(X.rows()) + " x " +
                                std::to_string(X.cols()));
  form_->apply_plain(*op_, X, y);
}

void SensingLoss::adjoint_times(const Vector& y, const Matrix& U, Matrix& out) const {
  if (y.size() != op_->measurements())
    throw std::invalid_argument("SensingLoss::adjoint_times(): expected y of length m = " +
                                std::to_string(op_->measurements()) + ", got " + std::to_string(y.size()));
  form_->adjoint_times_plain(*op_, y, U, out);
}

void SensingLoss::normal_apply_times(const Matrix& W, const Matrix& U, Matrix& out) const {
  if (const NormalOperator* q = normal_form()) {
    Matrix S;
    q->normal_apply(W, S);
    out.noalias() = S * U;
    return;
  }
  if (form_->fused()) {
    Matrix S;
    form_->residual_adjoint(*op_, W, nullptr, S);
    out.noalias() = S * U;
    return;
  }
  // Structured operators keep their factor form (no d x d adjoint).
  Vector a;
  form_->apply(*op_, W, a);
  form_->adjoint_times(*op_, a, U, out);
}

void SensingLoss::hessian_vector(const Matrix& U, const Matrix& V, Matrix& HV) const {
  Matrix sym;
  sym.noalias() = U * V.transpose();
  const Matrix W = sym + sym.transpose();  // U V^T + V U^T
  Matrix first, second;
  normal_apply_times(W, U, first);
  if (normal_form() || form_->fused()) {  // A*(r) as a d x d matrix is at hand
    Matrix S;
    residual_adjoint(U, S);
    second.noalias() = S * V;
  } else {
    form_->adjoint_times(*op_, form_->residual(*op_, b_, U).r, V, second);
  }
  HV = 2.0 * c_ * (first + second);
}

void SensingLoss::gram_velocity(const Matrix& X, Matrix& dX) const {
  Matrix S;
  residual_adjoint_symmetric(X, S);
  Matrix SX;
  SX.noalias() = S * X;
  dX = -2.0 * c_ * (SX + SX.transpose());
}

}  // namespace flowsense
