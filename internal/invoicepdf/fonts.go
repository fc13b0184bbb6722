package invoicepdf

import (
	_ "embed" // font files
	"fmt"

	"github.com/johnfercher/maroto/v2/pkg/consts/fontstyle"
	"github.com/johnfercher/maroto/v2/pkg/core/entity"
	"github.com/johnfercher/maroto/v2/pkg/repository"
)

// fontFamily is the name the embedded DejaVu Sans font is registered under.
// See fonts/LICENSE-DejaVu.txt for the font licence.
const fontFamily = "dejavusans"

var (
	//go:embed fonts/DejaVuSans.ttf
	fontRegular []byte
	//go:embed fonts/DejaVuSans-Bold.ttf
	fontBold []byte
)

// loadFonts returns the embedded fonts in maroto's custom font form. The
// italic styles reuse the upright faces so that no style can fall back to a
// core (Latin-1 only) PDF font.
func loadFonts() ([]*entity.CustomFont, error) {
	fonts, err := repository.New().
		AddUTF8FontFromBytes(fontFamily, fontstyle.Normal, fontRegular).
		AddUTF8FontFromBytes(fontFamily, fontstyle.Bold, fontBold).
		AddUTF8FontFromBytes(fontFamily, fontstyle.Italic, fontRegular).
		AddUTF8FontFromBytes(fontFamily, fontstyle.BoldItalic, fontBold).
		Load()
	if err != nil {
		return nil, fmt.Errorf("invoicepdf: load fonts: %w", err)
	}
	return fonts, nil
}
