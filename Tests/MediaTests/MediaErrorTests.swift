import Testing
import Media

@Suite struct MediaErrorTests {
    @Test func descriptionIsOneLineNamingTheFile() {
        let e = MediaError("/x/a.png", .corrupt, "bad CRC\nin chunk IDAT")
        #expect(e.description == "/x/a.png: bad CRC in chunk IDAT")
    }
}
