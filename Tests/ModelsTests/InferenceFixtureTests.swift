import Foundation
import Models
import Testing

/// Every case of `fixtures/inference`: logits, argmax, greedy continuations and hidden states
/// against transformers (float32, eager attention).
@Suite("Inference against transformers")
struct InferenceFixtureTests {
    @Test("logits of every position within 1e-4 × max|logit|, same argmax", arguments: InferenceCase.all)
    func logits(_ name: String) throws {
        let fixture = try InferenceCase(name)
        let model = try LanguageModel.load(folder: fixture.modelFolder)
        for (s, sequence) in fixture.sequences.enumerated() {
            let reference = try NPYArray(contentsOf: fixture.folder.appendingPathComponent(sequence.logitsFile))
            #expect(reference.shape == [sequence.inputIds.count, model.config.vocabSize])
            let logits = try model.logits(forIds: sequence.inputIds)
            try #require(logits.count == reference.values.count)
            let tolerance = 1e-4 * maxAbs(reference.values)
            let diff = maxAbsDifference(logits, reference.values)
            #expect(diff <= tolerance, "\(name) sequence \(s): max |Δlogit| \(diff) > \(tolerance)")
            let vocab = model.config.vocabSize
            let argmax = (0..<sequence.inputIds.count).map {
                LanguageModel.argmax(logits[($0 * vocab)..<(($0 + 1) * vocab)])
            }
            #expect(argmax == sequence.argmaxPerPosition, "\(name) sequence \(s)")
        }
    }

    @Test("greedy 8-token continuations with the KV cache equal transformers'", arguments: InferenceCase.all)
    func greedy(_ name: String) throws {
        let fixture = try InferenceCase(name)
        let model = try LanguageModel.load(folder: fixture.modelFolder)
        for (s, sequence) in fixture.sequences.enumerated() {
            let tokens = try model.greedy(prompt: sequence.inputIds, count: sequence.greedyNewTokens.count)
            #expect(tokens == sequence.greedyNewTokens, "\(name) sequence \(s)")
        }
    }

    @Test("hidden states of sequence 0: embeddings, each layer's output, final norm", arguments: InferenceCase.all)
    func hiddenStates(_ name: String) throws {
        let fixture = try InferenceCase(name)
        let url = fixture.folder.appendingPathComponent("hidden_states_0.npy")
        guard FileManager.default.fileExists(atPath: url.path) else { return }
        let reference = try NPYArray(contentsOf: url)
        let model = try LanguageModel.load(folder: fixture.modelFolder)
        let ids = fixture.sequences[0].inputIds
        let layers = model.config.layerCount
        let h = model.config.hiddenSize
        try #require(reference.shape == [layers + 1, ids.count, h])
        let trace = try model.trace(forIds: ids)
        var ours = [trace.embeddings]
        ours += trace.layerOutputs.prefix(layers - 1)
        ours.append(trace.finalNorm)
        let per = ids.count * h
        for (i, state) in ours.enumerated() {
            let ref = Array(reference.values[(i * per)..<((i + 1) * per)])
            let tolerance = 1e-4 * max(1, maxAbs(ref))
            let diff = maxAbsDifference(state, ref)
            #expect(state.count == per)
            #expect(diff <= tolerance, "\(name) hidden state \(i): max |Δ| \(diff) > \(tolerance)")
        }
    }
}
