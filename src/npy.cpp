#include "flowsense/io/npy.hpp"

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "flowsense/core/error.hpp"
#include "flowsense/io/atomic_file.hpp"

namespace flowsense {

namespace {

constexpr char magic[] = "\x93NUMPY";
constexpr std::size_t magic_size = 6;

std::size_t item_size(NpyDtype t) {
  return (t == NpyDtype::float32 || t == NpyDtype::int32) ? 4 : 8;
}

// ---- little-endian loads and stores, independent of the host's order ----

template <class T>
T load_le(const char* p) {
  unsigned char b[sizeof(T)];
  std::memcpy(b, p, sizeof(T));
  if constexpr (std::endian::native == std::endian::big)
    for (std::size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
  T v;
  std::memcpy(&v, b, sizeof(T));
  return v;
}

template <class T>
void store_le(std::string& out, T v) {
  unsigned char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  if constexpr (std::endian::native == std::endian::big)
    for (std::size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
  out.append(reinterpret_cast<const char*>(b), sizeof(T));
}

std::string printable(std::string_view bytes) {
  std::string s;
  char buf[8];
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      s += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      s += buf;
    }
  }
  return s;
}

std::string shape_string(const std::vector<Index>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

std::string index_string(std::size_t flat, const std::vector<Index>& shape) {
  if (shape.empty()) return "()";
  std::vector<Index> idx(shape.size());
  std::size_t rest = flat;
  for (std::size_t k = shape.size(); k-- > 0;) {
    const auto n = static_cast<std::size_t>(shape[k]);
    idx[k] = static_cast<Index>(rest % n);
    rest /= n;
  }
  return shape_string(idx);
}

// ---- the header: a Python dict literal with three keys ----

struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<Index> shape;
};

class HeaderParser {
public:
  HeaderParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  Header parse() {
    Header h;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    skip_ws();
    expect('{');
    for (;;) {
      skip_ws();
      if (peek() == '}') {
        ++i_;
        break;
      }
      const std::string key = string_literal();
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        if (seen_descr) fail("the key 'descr' appears twice");
        seen_descr = true;
        h.descr = string_literal();
      } else if (key == "fortran_order") {
        if (seen_order) fail("the key 'fortran_order' appears twice");
        seen_order = true;
        h.fortran_order = boolean();
      } else if (key == "shape") {
        if (seen_shape) fail("the key 'shape' appears twice");
        seen_shape = true;
        h.shape = tuple();
      } else {
        fail("unexpected key '" + key + "' (a .npy header has exactly 'descr', 'fortran_order', 'shape')");
      }
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip_ws();
      expect('}');
      break;
    }
    skip_ws();
    if (i_ != s_.size()) fail("unexpected text after the closing brace: '" + printable(s_.substr(i_, 20)) + "'");
    if (!seen_descr) fail("the key 'descr' is missing");
    if (!seen_order) fail("the key 'fortran_order' is missing");
    if (!seen_shape) fail("the key 'shape' is missing");
    return h;
  }

private:
  [[noreturn]] void fail(const std::string& why) const {
    throw InputError(path_, "unparsable .npy header: " + why + " in \"" + printable(s_) + "\"");
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    if (peek() != c) {
      if (i_ >= s_.size()) fail(std::string("expected '") + c + "' but the header ended");
      fail(std::string("expected '") + c + "' at offset " + std::to_string(i_) + ", got '" +
           printable(s_.substr(i_, 1)) + "'");
    }
    ++i_;
  }
  std::string string_literal() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string at offset " + std::to_string(i_));
    ++i_;
    std::string out;
    while (i_ < s_.size() && s_[i_] != q) out += s_[i_++];
    if (i_ >= s_.size()) fail("a string is not terminated");
    ++i_;
    return out;
  }
  bool boolean() {
    if (s_.substr(i_, 4) == "True") {
      i_ += 4;
      return true;
    }
    if (s_.substr(i_, 5) == "False") {
      i_ += 5;
      return false;
    }
    fail("'fortran_order' must be True or False");
  }
  std::vector<Index> tuple() {
    std::vector<Index> shape;
    expect('(');
    for (;;) {
      skip_ws();
      if (peek() == ')') {
        ++i_;
        break;
      }
      if (!std::isdigit(static_cast<unsigned char>(peek())))
        fail("'shape' must be a tuple of nonnegative integers");
      std::uint64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        const auto digit = static_cast<std::uint64_t>(s_[i_++] - '0');
        if (v > (static_cast<std::uint64_t>(std::numeric_limits<Index>::max()) - digit) / 10)
          fail("a dimension in 'shape' is too large");
        v = v * 10 + digit;
      }
      if (peek() == 'L') ++i_;  // Python 2 long literals, written by old NumPy
      shape.push_back(static_cast<Index>(v));
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip_ws();
      expect(')');
      break;
    }
    return shape;
  }

  std::string_view s_;
  const std::string& path_;
  std::size_t i_ = 0;
};

std::optional<NpyDtype> dtype_from_descr(const std::string& d) {
  if (d == "<f8") return NpyDtype::float64;
  if (d == "<f4") return NpyDtype::float32;
  if (d == "<i4") return NpyDtype::int32;
  if (d == "<i8") return NpyDtype::int64;
  return std::nullopt;
}

std::string read_whole_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(path, "is a directory, not a .npy file");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const std::string why = std::strerror(errno);
    throw InputError(path, "cannot open the .npy file: " + why);
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) throw InputError(path, "cannot read the .npy file: " + std::string(std::strerror(errno)));
  return std::move(contents).str();
}

}  // namespace

std::string to_descr(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::float64: return "<f8";
    case NpyDtype::float32: return "<f4";
    case NpyDtype::int32: return "<i4";
    case NpyDtype::int64: return "<i8";
  }
  return "?";
}

NpyArray read_npy(const std::string& path, const NpyReadOptions& options) {
  const std::string file = read_whole_file(path);
  if (file.size() < magic_size + 2 || file.compare(0, magic_size, magic, magic_size) != 0)
    throw InputError(path, "bad magic: not a NumPy .npy file (it must start with \\x93NUMPY, it starts with \"" +
                               printable(std::string_view(file).substr(0, magic_size)) + "\")");
  NpyArray out;
  const int major = static_cast<unsigned char>(file[magic_size]);
  const int minor = static_cast<unsigned char>(file[magic_size + 1]);
  if (!((major == 1 || major == 2 || major == 3) && minor == 0))
    throw InputError(path, "unsupported .npy format version " + std::to_string(major) + "." +
                               std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
  out.version = major;
  const std::size_t length_size = major == 1 ? 2 : 4;
  const std::size_t prefix = magic_size + 2 + length_size;
  if (file.size() < prefix)
    throw InputError(path, "truncated: the file ends inside the .npy preamble (" + std::to_string(file.size()) +
                               " bytes)");
  const std::size_t header_len = major == 1 ? load_le<std::uint16_t>(file.data() + magic_size + 2)
                                            : load_le<std::uint32_t>(file.data() + magic_size + 2);
  if (file.size() < prefix + header_len)
    throw InputError(path, "truncated: the header says it has " + std::to_string(header_len) +
                               " bytes but the file ends after " + std::to_string(file.size() - prefix));

  const Header h = HeaderParser(std::string_view(file).substr(prefix, header_len), path).parse();
  const auto dtype = dtype_from_descr(h.descr);
  if (!dtype) {
    if (!h.descr.empty() && h.descr[0] == '>')
      throw InputError(path, "big-endian data ('" + h.descr +
                                 "') is not supported; save it little-endian, e.g. with arr.astype('<" +
                                 h.descr.substr(1) + "')");
    throw InputError(path, "unsupported dtype '" + h.descr +
                               "' (supported: '<f8' float64, '<f4' float32, '<i4' int32, '<i8' int64)");
  }
  out.dtype = *dtype;
  out.fortran_order = h.fortran_order;
  out.shape = h.shape;

  std::size_t count = 1;
  for (Index n : h.shape) {
    const auto un = static_cast<std::size_t>(n);
    if (un != 0 && count > std::numeric_limits<std::size_t>::max() / un / 8)
      throw InputError(path, "the shape " + shape_string(h.shape) + " is too large");
    count *= un;
  }
  const std::size_t item = item_size(*dtype);
  const std::size_t data_offset = prefix + header_len;
  const std::size_t have = file.size() - data_offset;
  if (have < count * item)
    throw InputError(path, "truncated data: the shape " + shape_string(h.shape) + " of '" + h.descr +
                               "' needs " + std::to_string(count * item) + " bytes, the file has " +
                               std::to_string(have));
  if (have > count * item)
    throw InputError(path, "the file has " + std::to_string(have - count * item) +
                               " bytes more than the shape " + shape_string(h.shape) + " of '" + h.descr +
                               "' needs");

  // Decode in file order, then convert Fortran order to C order.
  std::vector<double> raw(count);
  const char* p = file.data() + data_offset;
  for (std::size_t k = 0; k < count; ++k, p += item) {
    switch (*dtype) {
      case NpyDtype::float64: raw[k] = load_le<double>(p); break;
      case NpyDtype::float32: raw[k] = static_cast<double>(load_le<float>(p)); break;
      case NpyDtype::int32: raw[k] = static_cast<double>(load_le<std::int32_t>(p)); break;
      case NpyDtype::int64: {
        const auto v = load_le<std::int64_t>(p);
        constexpr std::int64_t exact = std::int64_t{1} << 53;
        if (v > exact || v < -exact)
          throw InputError(path, "int64 entry " + std::to_string(v) + " at flat file position " +
                                     std::to_string(k) + " is not exactly representable as a double");
        raw[k] = static_cast<double>(v);
        break;
      }
    }
  }
  if (h.fortran_order && h.shape.size() > 1) {
    // Walk the C-order multi-index and keep its Fortran-order offset.
    out.data.resize(count);
    const std::size_t nd = h.shape.size();
    std::vector<std::size_t> stride(nd), idx(nd, 0);
    stride[0] = 1;
    for (std::size_t k = 1; k < nd; ++k) stride[k] = stride[k - 1] * static_cast<std::size_t>(h.shape[k - 1]);
    std::size_t f = 0;
    for (std::size_t c = 0; c < count; ++c) {
      out.data[c] = raw[f];
      for (std::size_t k = nd; k-- > 0;) {
        if (++idx[k] < static_cast<std::size_t>(h.shape[k])) {
          f += stride[k];
          break;
        }
        f -= (idx[k] - 1) * stride[k];
        idx[k] = 0;
      }
    }
  } else {
    out.data = std::move(raw);
  }

  if (options.require_finite) {
    for (std::size_t k = 0; k < out.data.size(); ++k) {
      if (!std::isfinite(out.data[k])) {
        const double v = out.data[k];
        throw InputError(path, std::string(std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf")) +
                                   " at index " + index_string(k, out.shape) +
                                   " (the first non-finite entry; only finite numbers are allowed)");
      }
    }
  }
  return out;
}

Matrix read_npy_matrix(const std::string& path) {
  NpyArray a = read_npy(path);
  if (a.shape.size() != 2)
    throw InputError(path, "expected a 2-D array (a matrix), got a " + std::to_string(a.shape.size()) +
                               "-D array of shape " + shape_string(a.shape));
  Matrix M(a.shape[0], a.shape[1]);
  for (Index i = 0; i < M.rows(); ++i)
    for (Index j = 0; j < M.cols(); ++j) M(i, j) = a.data[static_cast<std::size_t>(i * M.cols() + j)];
  return M;
}

std::string npy_bytes(const std::vector<Index>& shape, const std::vector<double>& data,
                      const NpyWriteOptions& options) {
  std::size_t count = 1;
  for (Index n : shape) {
    if (n < 0) throw std::invalid_argument("npy_bytes(): negative dimension in shape " + shape_string(shape));
    count *= static_cast<std::size_t>(n);
  }
  if (count != data.size())
    throw std::invalid_argument("npy_bytes(): the shape " + shape_string(shape) + " has " +
                                std::to_string(count) + " entries, got " + std::to_string(data.size()));
  if (options.version < 0 || options.version > 3)
    throw std::invalid_argument("npy_bytes(): version must be 0 (auto), 1, 2 or 3, got " +
                                std::to_string(options.version));

  std::string dict = "{'descr': '" + to_descr(options.dtype) +
                     "', 'fortran_order': " + (options.fortran_order ? "True" : "False") +
                     ", 'shape': " + shape_string(shape) + ", }";
  // Pad with spaces so that the data starts on a 64-byte boundary; end with '\n'.
  auto padded_length = [&](std::size_t length_size) {
    const std::size_t unpadded = magic_size + 2 + length_size + dict.size() + 1;
    return dict.size() + 1 + (64 - unpadded % 64) % 64;
  };
  int version = options.version;
  if (version == 0) version = padded_length(2) <= 0xffff ? 1 : 2;
  const std::size_t length_size = version == 1 ? 2 : 4;
  const std::size_t header_len = padded_length(length_size);
  if (version == 1 && header_len > 0xffff)
    throw std::invalid_argument("npy_bytes(): the header is too long for format 1.0");

  std::string out(magic, magic_size);
  out += static_cast<char>(version);
  out += static_cast<char>(0);
  if (version == 1) store_le(out, static_cast<std::uint16_t>(header_len));
  else store_le(out, static_cast<std::uint32_t>(header_len));
  out += dict;
  out.append(header_len - dict.size() - 1, ' ');
  out += '\n';

  auto put = [&](double v, std::size_t k) {
    switch (options.dtype) {
      case NpyDtype::float64: store_le(out, v); break;
      case NpyDtype::float32: store_le(out, static_cast<float>(v)); break;
      case NpyDtype::int32:
      case NpyDtype::int64: {
        const double lo = options.dtype == NpyDtype::int32 ? -2147483648.0 : -9223372036854775808.0;
        const double hi = options.dtype == NpyDtype::int32 ? 2147483647.0 : 9223372036854775807.0;
        if (!(v == std::trunc(v)) || v < lo || !(v < hi + 1.0))
          throw std::invalid_argument("npy_bytes(): entry " + std::to_string(k) + " = " + std::to_string(v) +
                                      " is not an integer in the range of " + to_descr(options.dtype));
        if (options.dtype == NpyDtype::int32) store_le(out, static_cast<std::int32_t>(v));
        else store_le(out, static_cast<std::int64_t>(v));
        break;
      }
    }
  };
  out.reserve(out.size() + count * item_size(options.dtype));
  if (options.fortran_order && shape.size() > 1) {
    // Walk the Fortran-order multi-index and read its C-order offset.
    const std::size_t nd = shape.size();
    std::vector<std::size_t> stride(nd), idx(nd, 0);
    stride[nd - 1] = 1;
    for (std::size_t k = nd - 1; k-- > 0;) stride[k] = stride[k + 1] * static_cast<std::size_t>(shape[k + 1]);
    std::size_t c = 0;
    for (std::size_t f = 0; f < count; ++f) {
      put(data[c], c);
      for (std::size_t k = 0; k < nd; ++k) {
        if (++idx[k] < static_cast<std::size_t>(shape[k])) {
          c += stride[k];
          break;
        }
        c -= (idx[k] - 1) * stride[k];
        idx[k] = 0;
      }
    }
  } else {
    for (std::size_t k = 0; k < count; ++k) put(data[k], k);
  }
  return out;
}

void write_npy(const std::string& path, const std::vector<Index>& shape, const std::vector<double>& data,
               const NpyWriteOptions& options) {
  write_file_atomically(path, npy_bytes(shape, data, options));
}

void write_npy(const std::string& path, const Matrix& matrix) {
  std::vector<double> data(static_cast<std::size_t>(matrix.size()));
  for (Index i = 0; i < matrix.rows(); ++i)
    for (Index j = 0; j < matrix.cols(); ++j)
      data[static_cast<std::size_t>(i * matrix.cols() + j)] = matrix(i, j);
  write_npy(path, {matrix.rows(), matrix.cols()}, data);
}

}  // namespace flowsense
