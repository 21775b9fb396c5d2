// .npy reading and writing: round trips bit for bit, every supported format
// variant (checked against files NumPy itself wrote, tests/data/npy), and
// every failure an InputError naming the file and what is wrong.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "flowsense/core/error.hpp"
#include "flowsense/core/random.hpp"
#include "flowsense/io/npy.hpp"

using namespace flowsense;
namespace fs = std::filesystem;

namespace {

const std::string data_dir = std::string(FLOWSENSE_TEST_DATA_DIR) + "/npy/";

/// A fresh directory under the system temp dir, removed at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    Rng rng(static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
    path = fs::temp_directory_path() / ("flowsense_npy_" + std::to_string(rng.engine()()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

/// Runs f, which must throw an InputError naming `where` whose message
/// contains every one of `parts`.
template <class F>
void require_input_error(F&& f, const std::string& where, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const InputError& e) {
    INFO("message: " << e.what());
    CHECK(e.where() == where);
    for (const auto& p : parts) CHECK_THAT(e.what(), Catch::Matchers::Contains(p));
    return;
  }
  FAIL("expected an InputError naming " << where);
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// The arrays make_fixtures.py saved.
const std::vector<double> a_values = {0.5, -1.25, 3.0, 1e-310, 6.02214076e23, -0.0};
std::vector<double> b_values() {
  std::vector<double> v;
  for (int i = 0; i < 24; ++i) v.push_back(i - 7);
  return v;
}

}  // namespace

TEST_CASE("npy: a float64 matrix round-trips bit for bit", "[npy]") {
  TempDir tmp;
  Rng rng(7);
  for (auto [rows, cols] : {std::pair<Index, Index>{1, 1}, {5, 7}, {30, 2}, {0, 3}}) {
    Matrix M = rng.normal_matrix(rows, cols);
    if (M.size() >= 4) {
      // By linear index, so that every shape has the four (30 x 2 has no
      // column 2: M(0, 2) wrote past the end, found by AddressSanitizer).
      M(0) = std::numeric_limits<double>::denorm_min();
      M(1) = -0.0;
      M(2) = std::numeric_limits<double>::max();
      M(M.size() - 1) = -std::numeric_limits<double>::min();
    }
    const std::string path = tmp.file("m.npy");
    write_npy(path, M);
    const Matrix R = read_npy_matrix(path);
    REQUIRE(R.rows() == rows);
    REQUIRE(R.cols() == cols);
    for (Index i = 0; i < rows; ++i)
      for (Index j = 0; j < cols; ++j) CHECK(same_bits(R(i, j), M(i, j)));
  }
}

TEST_CASE("npy: every dtype, order and version round-trips", "[npy]") {
  TempDir tmp;
  const std::vector<double> values = b_values();
  for (NpyDtype dtype : {NpyDtype::float64, NpyDtype::float32, NpyDtype::int32, NpyDtype::int64})
    for (bool fortran : {false, true})
      for (int version : {1, 2, 3})
        for (const std::vector<Index>& shape :
             {std::vector<Index>{2, 3, 4}, std::vector<Index>{6, 4}, std::vector<Index>{24}}) {
          INFO(to_descr(dtype) << " fortran=" << fortran << " version=" << version << " ndim=" << shape.size());
          const std::string path = tmp.file("v.npy");
          write_npy(path, shape, values, {dtype, fortran, version});
          const std::string bytes = slurp(path);
          CHECK(static_cast<int>(bytes[6]) == version);
          // NumPy aligns the data to 64 bytes; so do we.
          const std::size_t item = (dtype == NpyDtype::float32 || dtype == NpyDtype::int32) ? 4 : 8;
          CHECK((bytes.size() - values.size() * item) % 64 == 0);
          const NpyArray a = read_npy(path);
          CHECK(a.shape == shape);
          CHECK(a.dtype == dtype);
          CHECK(a.fortran_order == fortran);
          CHECK(a.version == version);
          CHECK(a.data == values);
        }
}

TEST_CASE("npy: files written by NumPy read back as NumPy wrote them", "[npy]") {
  const std::vector<Index> a_shape = {2, 3}, b_shape = {2, 3, 4};
  struct Case {
    const char* file;
    std::vector<Index> shape;
    std::vector<double> values;
    NpyDtype dtype;
    bool fortran;
    int version;
  };
  std::vector<double> a_f32;
  for (double v : a_values) a_f32.push_back(static_cast<double>(static_cast<float>(v)));
  const std::vector<Case> cases = {
      {"f8_c.npy", a_shape, a_values, NpyDtype::float64, false, 1},
      {"f8_fortran.npy", a_shape, a_values, NpyDtype::float64, true, 1},
      {"f4_c.npy", a_shape, a_f32, NpyDtype::float32, false, 1},
      {"i4_fortran.npy", b_shape, b_values(), NpyDtype::int32, true, 1},
      {"i8_c.npy", b_shape, b_values(), NpyDtype::int64, false, 1},
      {"f8_1d.npy", {3}, {1.0, 2.0, 3.0}, NpyDtype::float64, false, 1},
      {"f8_v2.npy", a_shape, a_values, NpyDtype::float64, false, 2},
      {"f8_v3_fortran.npy", b_shape, b_values(), NpyDtype::float64, true, 3},
  };
  for (const auto& c : cases) {
    INFO(c.file);
    const NpyArray a = read_npy(data_dir + c.file);
    CHECK(a.shape == c.shape);
    CHECK(a.dtype == c.dtype);
    CHECK(a.fortran_order == c.fortran);
    CHECK(a.version == c.version);
    REQUIRE(a.data.size() == c.values.size());
    for (std::size_t k = 0; k < a.data.size(); ++k) CHECK(same_bits(a.data[k], c.values[k]));
  }
  // The C-order matrix reader agrees with the row-major data.
  const Matrix M = read_npy_matrix(data_dir + "f8_fortran.npy");
  CHECK(M(0, 1) == -1.25);
  CHECK(M(1, 1) == 6.02214076e23);
}

TEST_CASE("npy: our bytes equal NumPy's bytes for the same array", "[npy]") {
  // The header layout (key order, spacing, 64-byte padding) is NumPy's.
  CHECK(npy_bytes({2, 3}, a_values) == slurp(data_dir + "f8_c.npy"));
  CHECK(npy_bytes({2, 3}, a_values, {NpyDtype::float64, true, 0}) == slurp(data_dir + "f8_fortran.npy"));
  CHECK(npy_bytes({2, 3}, a_values, {NpyDtype::float64, false, 2}) == slurp(data_dir + "f8_v2.npy"));
  CHECK(npy_bytes({2, 3, 4}, b_values(), {NpyDtype::int64, false, 0}) == slurp(data_dir + "i8_c.npy"));
  CHECK(npy_bytes({3}, {1.0, 2.0, 3.0}) == slurp(data_dir + "f8_1d.npy"));
}

TEST_CASE("npy: every malformed file is an InputError naming the file and the fault", "[npy]") {
  TempDir tmp;
  const std::string good = npy_bytes({2, 3}, a_values);

  SECTION("missing file") {
    const std::string path = tmp.file("absent.npy");
    require_input_error([&] { read_npy(path); }, path, {"cannot open", "No such file"});
  }
  SECTION("a directory") {
    const std::string path = tmp.path.string();
    require_input_error([&] { read_npy(path); }, path, {"is a directory"});
  }
  SECTION("bad magic") {
    const std::string path = tmp.file("text.npy");
    spit(path, "a,b,c\n1,2,3\n");
    require_input_error([&] { read_npy(path); }, path, {"bad magic", "a,b,c"});
  }
  SECTION("empty file") {
    const std::string path = tmp.file("empty.npy");
    spit(path, "");
    require_input_error([&] { read_npy(path); }, path, {"bad magic"});
  }
  SECTION("unsupported version") {
    const std::string path = tmp.file("v4.npy");
    std::string bytes = good;
    bytes[6] = 4;
    spit(path, bytes);
    require_input_error([&] { read_npy(path); }, path, {"unsupported .npy format version 4.0", "1.0, 2.0, 3.0"});
  }
  SECTION("header longer than the file") {
    const std::string path = tmp.file("short_header.npy");
    spit(path, good.substr(0, 40));
    require_input_error([&] { read_npy(path); }, path, {"truncated", "header"});
  }
  SECTION("unparsable headers") {
    const std::vector<std::pair<std::string, std::string>> headers = {
        {"{'descr': '<f8', 'fortran_order': False}", "'shape' is missing"},
        {"{'descr': '<f8', 'fortran_order': Maybe, 'shape': (2, 3), }", "True or False"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, x), }", "tuple of nonnegative integers"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}", "unexpected key 'extra'"},
        {"['descr', '<f8']", "expected '{'"},
        {"{'descr: '<f8'", "unparsable .npy header"},
        {"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", "appears twice"},
    };
    for (const auto& [header, part] : headers) {
      INFO(header);
      std::string bytes = "\x93NUMPY";
      bytes += '\x01';
      bytes += '\x00';
      const auto n = static_cast<std::uint16_t>(header.size() + 1);
      bytes += static_cast<char>(n & 0xff);
      bytes += static_cast<char>(n >> 8);
      bytes += header + "\n";
      const std::string path = tmp.file("header.npy");
      spit(path, bytes);
      require_input_error([&] { read_npy(path); }, path, {"unparsable .npy header", part});
    }
  }
  SECTION("unsupported dtype") {
    const std::string path = data_dir + "c16.npy";
    require_input_error([&] { read_npy(path); }, path, {"unsupported dtype '<c16'", "'<f8' float64"});
  }
  SECTION("big-endian data") {
    const std::string path = data_dir + "f8_big_endian.npy";
    require_input_error([&] { read_npy(path); }, path, {"big-endian", "'>f8'", "astype('<f8')"});
  }
  SECTION("wrong number of dimensions for a matrix") {
    const std::string path = data_dir + "f8_1d.npy";
    require_input_error([&] { read_npy_matrix(path); }, path, {"expected a 2-D array", "1-D", "(3,)"});
    const std::string path3 = data_dir + "i8_c.npy";
    require_input_error([&] { read_npy_matrix(path3); }, path3, {"3-D", "(2, 3, 4)"});
  }
  SECTION("truncated data") {
    const std::string path = tmp.file("truncated.npy");
    spit(path, good.substr(0, good.size() - 5));
    require_input_error([&] { read_npy(path); }, path, {"truncated data", "needs 48 bytes", "has 43"});
  }
  SECTION("surplus data") {
    const std::string path = tmp.file("long.npy");
    spit(path, good + "xyz");
    require_input_error([&] { read_npy(path); }, path, {"3 bytes more than the shape (2, 3)"});
  }
  SECTION("NaN, with the index of the first one") {
    const std::string path = data_dir + "f8_nan.npy";
    require_input_error([&] { read_npy_matrix(path); }, path, {"NaN at index (1, 1)", "finite"});
    // ...which a caller may allow explicitly.
    const NpyArray a = read_npy(path, {false});
    CHECK(std::isnan(a.data[4]));
  }
  SECTION("Inf in a Fortran-order file names the C-order index") {
    const std::string path = tmp.file("inf.npy");
    std::vector<double> v = b_values();
    v[1 * 12 + 2 * 4 + 3] = -std::numeric_limits<double>::infinity();  // (1, 2, 3)
    v[1 * 12 + 2 * 4 + 1] = std::numeric_limits<double>::infinity();   // (1, 2, 1): first in C order
    write_npy(path, {2, 3, 4}, v, {NpyDtype::float64, true, 0});
    require_input_error([&] { read_npy(path); }, path, {"+Inf at index (1, 2, 1)"});
  }
  SECTION("int64 beyond 2^53 is not silently rounded") {
    const std::string path = tmp.file("big_int.npy");
    std::string bytes = npy_bytes({1}, {0.0}, {NpyDtype::int64, false, 0});
    const std::int64_t v = (std::int64_t{1} << 53) + 1;
    std::memcpy(bytes.data() + bytes.size() - 8, &v, 8);  // little-endian host
    spit(path, bytes);
    require_input_error([&] { read_npy(path); }, path, {"not exactly representable"});
  }
}

TEST_CASE("npy: writing rejects values the dtype cannot hold", "[npy]") {
  CHECK_THROWS_AS(npy_bytes({2}, {1.0, 2.5}, {NpyDtype::int32, false, 0}), std::invalid_argument);
  CHECK_THROWS_AS(npy_bytes({1}, {3e9}, {NpyDtype::int32, false, 0}), std::invalid_argument);
  CHECK_THROWS_AS(npy_bytes({2, 2}, {1.0, 2.0, 3.0}), std::invalid_argument);
  CHECK_NOTHROW(npy_bytes({1}, {-2147483648.0}, {NpyDtype::int32, false, 0}));
}
