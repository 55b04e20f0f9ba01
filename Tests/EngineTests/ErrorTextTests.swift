import Foundation
import Testing
import TensorCore
@testable import Engine

@Suite("errors as one line")
struct ErrorTextTests {
    @Test func foundationFileErrorsAreSaidInWords() {
        let denied = CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: "/ro/out"])
        #expect(ErrorText.describe(denied) == "/ro/out: cannot write there (permission denied)")
        let missing = CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: "/x/y"])
        #expect(ErrorText.describe(missing) == "/x/y: no such file or folder")
        let full = CocoaError(.fileWriteOutOfSpace, userInfo: [NSFilePathErrorKey: "/big"])
        #expect(ErrorText.describe(full) == "/big: no space left on the device")
        let posix = NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC), userInfo: [NSFilePathErrorKey: "/big"])
        #expect(ErrorText.describe(posix) == "/big: No space left on device")
        #expect(!ErrorText.describe(denied).contains("Domain="))
    }

    @Test func theSamePathIsNotSaidTwice() {
        let e = ItemFailure(path: "/w", reason: WeightFileError(path: "/w", "no model.safetensors in this folder").description)
        #expect(ErrorText.describe(e) == "/w: no model.safetensors in this folder")
        #expect(ErrorText.reason(FileAccessError(path: "/out", "is a file, not a folder"), path: "/in.wav") == "/out: is a file, not a folder")
        #expect(ItemFailure(path: "/p", error: CocoaError(.fileReadNoPermission, userInfo: [NSFilePathErrorKey: "/p"])).description
                == "/p: cannot read it (permission denied)")
    }

    @Test(arguments: [
        ("a/b.wav\nc.jpg\n", false, nil),
        ("BMW photos/x.jpg\n", true, nil),
        ("chat-é.jpg\n", true, nil),
    ] as [(String, Bool, String?)])
    func textOnStandardInputIsAPathList(text: String, complete: Bool, expected: String?) {
        #expect(StandardInputLines.describeBinary(Array(text.utf8), complete: complete) == expected)
    }

    @Test func mediaBytesOnStandardInputAreNamed() {
        var wav = Array("RIFF".utf8) + [0x24, 0x08, 0, 0] + Array("WAVEfmt ".utf8) + [16, 0, 0, 0, 1, 0]
        wav += [UInt8](repeating: 0, count: 40)
        #expect(StandardInputLines.describeBinary(wav, complete: true) == "audio data (wav)")
        #expect(StandardInputLines.describeBinary([0x01, 0x02, 0x00, 0x41], complete: true) == "binary data")
        // A multi-byte character cut by the look-ahead is still text; invalid UTF-8 is not.
        let cut = Array("a/é".utf8).dropLast()
        #expect(StandardInputLines.describeBinary(Array(cut), complete: false) == nil)
        #expect(StandardInputLines.describeBinary([0x61, 0xC3, 0x28], complete: true) == "binary data")
    }

    @Test func rangesNameTheOptionAndTheValue() throws {
        var r = ClassifyRequest(images: ImageInputs(paths: ["x.jpg"]))
        r.topK = 0
        #expect(throws: RequestError.self) { try r.validate() }
        r.topK = 5
        r.labels = ["cat"]
        #expect(throws: RequestError.self) { try r.validate() }
        r.multiLabel = true
        try r.validate()
        r.threshold = .nan
        #expect(throws: RequestError.self) { try r.validate() }
        #expect(throws: RequestError.self) { try RunSettings().validate(environment: ["MMPIPE_THREADS": "abc"]) }
        try RunSettings(threads: 2).validate(environment: ["MMPIPE_THREADS": "abc"])
        try RunSettings().validate(environment: ["MMPIPE_THREADS": "3"])
    }
}
