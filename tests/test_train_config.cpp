// TrainConfig's training options (dropout, label smoothing, recomputation, sample generations) and
// the single-process Communicator.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"
#include "train/distributed.h"
#include "train/train_config.h"

using namespace np;

namespace {

TrainConfig valid() {
    TrainConfig c;
    c.data = "data";
    return c;
}

// The message of the np::Error that validate() throws, or "" when it accepts c.
std::string validation_error(const TrainConfig& c) {
    try {
        c.validate();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(TrainConfigOptions, DefaultsAreOffAndValid) {
    const TrainConfig c = valid();
    EXPECT_EQ(c.dropout, 0);
    EXPECT_EQ(c.label_smoothing, 0);
    EXPECT_FALSE(c.recompute);
    EXPECT_EQ(c.sample_every, 0);
    EXPECT_EQ(validation_error(c), "");
}

TEST(TrainConfigOptions, RangeErrorsNameTheField) {
    struct Case {
        void (*set)(TrainConfig&);
        const char* field;
    };
    const std::vector<Case> bad = {
        {[](TrainConfig& c) { c.dropout = -0.1; }, "dropout"},
        {[](TrainConfig& c) { c.dropout = 1.0; }, "dropout"},
        {[](TrainConfig& c) { c.dropout = std::nan(""); }, "dropout"},
        {[](TrainConfig& c) { c.label_smoothing = -1e-3; }, "label_smoothing"},
        {[](TrainConfig& c) { c.label_smoothing = 1.0; }, "label_smoothing"},
        {[](TrainConfig& c) { c.label_smoothing = INFINITY; }, "label_smoothing"},
        {[](TrainConfig& c) { c.sample_every = -1; }, "sample_every"},
    };
    for (const Case& k : bad) {
        TrainConfig c = valid();
        k.set(c);
        const std::string err = validation_error(c);
        EXPECT_NE(err.find(k.field), std::string::npos) << k.field << ": \"" << err << "\"";
        EXPECT_NE(err.find("train config"), std::string::npos) << err;
    }
    TrainConfig edge = valid();
    edge.dropout = 0.999;
    edge.label_smoothing = 0.5;
    edge.sample_every = 1;
    EXPECT_EQ(validation_error(edge), "");
}

TEST(TrainConfigOptions, JsonRoundTripAndOldConfigsGetDefaults) {
    TrainConfig c = valid();
    c.dropout = 0.125;
    c.label_smoothing = 0.1;
    c.recompute = true;
    c.sample_every = 7;
    c.sample_prompts = "prompts.jsonl";
    const TrainConfig back = TrainConfig::from_json(c.to_json());
    EXPECT_EQ(back.dropout, 0.125);
    EXPECT_EQ(back.label_smoothing, 0.1);
    EXPECT_TRUE(back.recompute);
    EXPECT_EQ(back.sample_every, 7);
    EXPECT_EQ(back.sample_prompts, "prompts.jsonl");
    EXPECT_EQ(back.to_json(), c.to_json());

    // A train_config.json written before these fields existed still resumes, with them off.
    nlohmann::json old = valid().to_json();
    for (const char* k :
         {"dropout", "label_smoothing", "recompute", "sample_every", "sample_prompts"})
        old.erase(k);
    const TrainConfig o = TrainConfig::from_json(old);
    EXPECT_EQ(o.dropout, 0);
    EXPECT_FALSE(o.recompute);
    EXPECT_EQ(o.sample_every, 0);
}

TEST(TrainConfigOptions, WrongTypesNameTheField) {
    for (const auto& [key, value] :
         std::vector<std::pair<std::string, nlohmann::json>>{{"dropout", "high"},
                                                             {"recompute", "yes"},
                                                             {"sample_every", 1.5},
                                                             {"sample_prompts", 3}}) {
        nlohmann::json j = valid().to_json();
        j[key] = value;
        try {
            TrainConfig::from_json(j, "t.json");
            ADD_FAILURE() << key << " = " << value.dump() << " was accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("\"" + key + "\""), std::string::npos) << e.what();
        }
    }
}

TEST(Communicator, SingleProcessCollectivesAreIdentities) {
    // Without an MPI launcher in the environment (ctest, a plain shell) there is one rank.
    const Communicator comm;
    EXPECT_EQ(comm.size(), 1);
    EXPECT_EQ(comm.rank(), 0);
    EXPECT_TRUE(comm.root());
    std::vector<float> f = {1.5f, -2};
    std::vector<double> d = {3.25};
    std::vector<int64_t> i = {7};
    std::vector<uint64_t> u = {9};
    comm.allreduce_sum(std::span(f));
    comm.allreduce_sum(std::span(d));
    comm.allreduce_sum(std::span(i));
    comm.broadcast(std::span(f));
    comm.broadcast(std::span(d));
    comm.broadcast(std::span(u));
    comm.barrier();
    EXPECT_EQ(f, (std::vector<float>{1.5f, -2}));
    EXPECT_EQ(d[0], 3.25);
    EXPECT_EQ(i[0], 7);
    EXPECT_EQ(u[0], 9u);
    EXPECT_NO_THROW(comm.check_identical(f, "weights"));
}

TEST(Communicator, NotJoiningIgnoresALauncherEnvironment) {
    // join_launcher = false never touches MPI, even inside an mpirun environment.
    ::setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
    ::setenv("OMPI_COMM_WORLD_RANK", "2", 1);
    EXPECT_EQ(launcher_world_size(), 4);
    {
        const Communicator comm(false);
        EXPECT_EQ(comm.size(), 1);
        EXPECT_EQ(comm.rank(), 0);
    }
    ::unsetenv("OMPI_COMM_WORLD_SIZE");
    ::unsetenv("OMPI_COMM_WORLD_RANK");
    EXPECT_EQ(launcher_world_size(), 0);
    EXPECT_EQ(mpi_available(), !mpi_library_version().empty());
}
