import Foundation
import TensorCore

/// Reads Silero VAD v6: the only place its file is opened.
///
/// `weights` is the `.safetensors` file `scripts/fetch-models` converts from faster-whisper's
/// `silero_vad_v6.onnx` (the ONNX initializers under their ONNX names), or a folder holding
/// `silero_vad_v6.safetensors`.
public enum SileroVADLoader {
    public static let fileName = "silero_vad_v6.safetensors"

    public static func load(_ weights: URL) throws -> SileroVAD {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: weights.path, isDirectory: &isDir) else {
            throw WeightFileError(path: weights.path, "no such file or folder (pass \(fileName) or a folder holding it)")
        }
        var file = weights
        if isDir.boolValue {
            file = weights.appendingPathComponent(fileName)
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw WeightFileError(path: weights.path, "no \(fileName) in this folder (scripts/fetch-models silero-vad makes it)")
            }
        } else if weights.pathExtension == "onnx" {
            throw WeightFileError(path: weights.path, "an ONNX file: convert it first with scripts/onnx_initializers.py \(weights.lastPathComponent) \(fileName)")
        } else if weights.pathExtension != "safetensors" {
            throw WeightFileError(path: weights.path, "not a safetensors file (expected \(fileName))")
        }
        let st = try SafeTensorsFile(path: file.path)
        var tensors = try CheckedTensors(st, wording: CheckedTensors.Wording(
            owner: "Silero VAD v6", missing: " (is this Silero VAD v6?)",
            unexpected: " (is this Silero VAD v6? v5 and older files are laid out differently)"))
        return try SileroVAD(&tensors)
    }
}
